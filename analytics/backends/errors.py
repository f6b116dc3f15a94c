"""Map ClickHouse error text to analytics exceptions."""

from __future__ import annotations

import re

from analytics.exceptions import QueryError, ReadOnlyError

_CODE = re.compile(r"Code:\s*(\d+)")
READ_ONLY_HINT = " -- this endpoint is read-only; pass readonly=0 (eddy sql --write) to write"


def classify_message(message: str) -> QueryError:
    """A ClickHouse error message -> QueryError (ReadOnlyError for code 164 / READONLY).

    >>> type(classify_message("Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)")).__name__
    'ReadOnlyError'
    >>> str(classify_message(str(classify_message("Code: 164. (READONLY)")))).count("read-only;")
    1
    """
    message = message.strip()
    match = _CODE.search(message)
    if (match and match.group(1) == "164") or "(READONLY)" in message:
        # Eddy's chDB server already classified it (its 403 carries the hint): add it once
        return ReadOnlyError(message if READ_ONLY_HINT in message else f"{message}{READ_ONLY_HINT}")
    return QueryError(message)
