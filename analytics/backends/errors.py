"""Map ClickHouse error text to analytics exceptions."""

from __future__ import annotations

import re

from analytics.exceptions import QueryError, ReadOnlyError

_CODE = re.compile(r"Code:\s*(\d+)")


def classify_message(message: str) -> QueryError:
    """A ClickHouse error message -> QueryError (ReadOnlyError for code 164 / READONLY).

    >>> type(classify_message("Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)")).__name__
    'ReadOnlyError'
    """
    message = message.strip()
    match = _CODE.search(message)
    if (match and match.group(1) == "164") or "(READONLY)" in message:
        return ReadOnlyError(
            f"{message} -- this endpoint is read-only; pass readonly=0 (eddy sql --write) to write"
        )
    return QueryError(message)
