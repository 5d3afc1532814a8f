"""Private HTML helpers: escaping of user-supplied text (number formatting: :mod:`coverage.outputs.text`).

Every text that comes from an input file (course names, providers, addresses, site
names, reasons, region names) passes :func:`esc` before it reaches a map or report.
folium puts popup and tooltip HTML into JavaScript template literals
(``$(`...`)``) and Leaflet inserts tooltip, popup, attribution and search-tip
strings as ``innerHTML``, so plain HTML escaping is not enough:

* ``& < > " '`` are escaped as HTML entities (no tags, no attribute break-out);
* the backtick becomes ``&#96;`` (it would end the template literal);
* ``$`` becomes ``&#36;`` (``${...}`` would be evaluated inside the literal);
* the backslash becomes ``&#92;`` (``\\u`` or ``\\x`` would be a syntax error in
  the literal and a backslash would swallow the next character);
* line breaks become spaces (folium joins popup lines on one line).

The entities display as the original characters in the browser, so the text is
shown exactly as written, as text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping

__all__ = ["esc", "esc_props", "info_table"]

_EXTRA = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "{": "&#123;", "}": "&#125;", "\\": "&#92;", "\n": " ", "\r": " ", "\t": " ",
     "\x00": ""}
)


def esc(value: object) -> str:
    """Return ``value`` as text that is safe in HTML, attributes, JS template literals and Jinja.

    Braces are encoded too, so ``{{ … }}`` in user text can never be evaluated by a
    template engine that renders the text again (branca does).

    Parameters
    ----------
    value
        Any value; ``None`` and NaN become an empty string.

    Returns
    -------
    str
        The escaped text.

    Examples
    --------
    >>> esc("<b>${x}</b> `y`")
    '&lt;b&gt;&#36;&#123;x&#125;&lt;/b&gt; &#96;y&#96;'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True).translate(_EXTRA)


def esc_props(props: Mapping[str, object]) -> dict[str, object]:
    """Escape every text value (and key) of a GeoJSON ``properties`` mapping.

    Numbers and booleans are kept; everything else is converted with :func:`esc`.
    """
    out: dict[str, object] = {}
    for key, value in props.items():
        if isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
            out[esc(key)] = value
        else:
            out[esc(key)] = esc(value)
    return out


def info_table(title: str, rows: Iterable[tuple[str, object]]) -> str:
    """Return a small HTML table for popups; title, labels and values are escaped.

    Parameters
    ----------
    title
        Heading (escaped).
    rows
        ``(label, value)`` pairs; values are converted with :func:`esc`.
    """
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<div class="ka-popup"><h4>{esc(title)}</h4><table>{body}</table></div>'
