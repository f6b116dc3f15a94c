"""Safe rendering of SQL text: identifiers, literals and template placeholders.

Templates use ``{name}`` placeholders (no colon) for values known when the SQL is *built*
(database name, TTL days, topic names). ClickHouse's own ``{name:Type}`` query parameters are
left untouched: they are bound by the server, never pasted into the text.

>>> quote_string("it's")
"'it\\\\'s'"
>>> render("SELECT * FROM {db}.t WHERE x = {v:UInt8}", db="eddy")
'SELECT * FROM eddy.t WHERE x = {v:UInt8}'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from analytics.exceptions import ConfigError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def identifier(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise ConfigError.

    >>> identifier("eddy_test")
    'eddy_test'
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ConfigError(
            f"{name!r} is not a valid database/table name: use letters, digits and _ only"
        )
    return name


def escape_string(value: str) -> str:
    """Escape a string for use inside single quotes in ClickHouse SQL."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def quote_string(value: str) -> str:
    """Quote a string as a ClickHouse string literal."""
    return "'" + escape_string(value) + "'"


def literal(value: Any) -> str:
    """Render a Python value as a ClickHouse literal (str, int, float, bool, None, tuple, list).

    >>> literal(("a", 1, None))
    "('a', 1, NULL)"
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if isinstance(value, (list,)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise ConfigError(f"cannot render {type(value).__name__} as a SQL literal; pass str/int/float")


def param_text(value: Any) -> str:
    """Render a query-parameter value in ClickHouse text format (as sent in ``param_x=``).

    Scalars are sent bare (strings unquoted, backslash-escaped as ClickHouse's escaped text
    format expects); arrays and tuples use literal syntax.

    >>> param_text("a\\tb"), param_text(3), param_text(["x", "y"])
    ('a\\\\tb', '3', "['x', 'y']")
    """
    if isinstance(value, (list, tuple)):
        return literal(value)
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return literal(value)
    if isinstance(value, str):
        return escape_string(value)
    raise ConfigError(f"cannot send {type(value).__name__} as a query parameter")


def render(template: str, **values: Any) -> str:
    """Fill ``{name}`` placeholders; ``db``/``*_ident`` must be identifiers, ints stay ints,
    strings are escaped for use inside quotes. Unknown placeholders raise ConfigError."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ConfigError(f"SQL template needs a value for {{{name}}}; pass {name}=...")
        value = values[name]
        if name == "db" or name.endswith("_ident"):
            return identifier(value)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"placeholder {{{name}}} takes an int or a str, got {value!r}")
        if isinstance(value, int):
            return str(value)
        return escape_string(value)

    return _PLACEHOLDER.sub(sub, template)


def split_statements(text: str) -> list[str]:
    """Split a SQL file into statements on ``;`` at line ends, dropping comment-only parts."""
    parts = re.split(r";\s*(?:\n|$)", text)
    out = []
    for part in parts:
        body = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--"))
        if body.strip():
            out.append(part.strip())
    return out


def params_text(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Render a parameter mapping for transport (names must be identifiers)."""
    return {identifier(k): param_text(v) for k, v in (params or {}).items()}


def tuples_in(columns: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> str:
    """``(a, b) IN ((...), (...))`` with every value rendered as a literal."""
    cols = ", ".join(f"`{identifier(c)}`" for c in columns)
    return f"({cols}) IN (" + ", ".join(literal(tuple(k)) for k in keys) + ")"
