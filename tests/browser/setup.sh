#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium (playwright drives it; no
# browser download, no npm: the maps embed their JavaScript libraries). Safe to run
# repeatedly.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium fehlt und kann ohne root nicht installiert werden; Browser-Tests werden übersprungen." >&2
  fi
fi
