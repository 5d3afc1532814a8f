#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium and the npm packages
# that serve folium's CDN assets locally. Safe to run repeatedly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium fehlt und kann ohne root nicht installiert werden; Browser-Tests werden übersprungen." >&2
  fi
fi
if [ -f "$here/package.json" ] && command -v npm >/dev/null 2>&1 && [ ! -d "$here/node_modules" ]; then
  (cd "$here" && npm install --silent --no-audit --no-fund)
fi
