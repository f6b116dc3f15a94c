"""Run the parameterized queries of ``analytics/sql/queries/``.

The database name is rendered into the text (validated identifier); every other value is a
ClickHouse query parameter ``{name:Type}`` bound by the server, never pasted into the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from analytics.backends.base import Backend
from analytics.exceptions import ConfigError
from analytics.sqlfiles import read_sql, sql_files
from analytics.sqltext import render

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^}]+\}")


def query_names() -> list[str]:
    """Names of the shipped queries.

    >>> "model_metrics" in query_names()
    True
    """
    return [n[:-4] for n in sql_files("queries")]


def query_params(name: str) -> set[str]:
    """The parameter names a query needs.

    >>> sorted(query_params("time_range"))
    ['pipeline', 'run_id']
    """
    return set(_PARAM.findall(read_sql("queries", name)))


def render_query(name: str, db: str) -> str:
    """The query text with ``{db}`` filled in and ``{name:Type}`` parameters left for the server."""
    return render(read_sql("queries", name), db=db)


def run_query(backend: Backend, name: str, db: str = "eddy",
              params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run query ``name`` with exactly the parameters it declares; return its rows."""
    params = dict(params or {})
    needed = query_params(name)
    missing, extra = needed - set(params), set(params) - needed
    if missing or extra:
        raise ConfigError(
            f"query {name} takes parameters {sorted(needed)}; missing {sorted(missing)}, "
            f"unexpected {sorted(extra)}"
        )
    return backend.query(render_query(name, db), params)
