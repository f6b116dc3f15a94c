"""``connect(url)``: pick a backend from a URL; URL helpers that never leak passwords."""

from __future__ import annotations

import urllib.parse
from typing import Any

from analytics.backends.base import Backend
from analytics.exceptions import ConfigError


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``.

    >>> redact_url("clickhouse://eddy:s3cret@db:8123/x")
    'clickhouse://eddy:***@db:8123/x'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def parse_dsn(dsn: str) -> dict[str, Any]:
    """``clickhouse[s]://user:pass@host:port/db`` -> clickhouse-connect ``get_client`` kwargs.

    >>> sorted(parse_dsn("clickhouses://u@h/db").items())
    [('database', 'db'), ('host', 'h'), ('port', 8443), ('secure', True), ('username', 'u')]
    """
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme not in ("clickhouse", "clickhouses") or not parts.hostname:
        raise ConfigError(f"expected clickhouse://user:pass@host:port/db, got {redact_url(dsn)}")
    secure = parts.scheme == "clickhouses"
    opts: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or (8443 if secure else 8123),
        "secure": secure,
    }
    if parts.username:
        opts["username"] = urllib.parse.unquote(parts.username)
    if parts.password:
        opts["password"] = urllib.parse.unquote(parts.password)
    db = parts.path.strip("/")
    if db:
        opts["database"] = db
    return opts


def connect(url: str, *, readonly: bool = False) -> Backend:
    """Open a backend: ``chdb:///abs/path``, ``http://host:port``, ``clickhouse[s]://...``.

    >>> connect("ftp://x")
    Traceback (most recent call last):
    ...
    analytics.exceptions.ConfigError: unsupported analytics URL ftp://x; use chdb:///abs/path, http://host:port or clickhouse://user:pass@host:port/db
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "chdb":
        from analytics.backends.chdb import ChdbBackend

        parts = urllib.parse.urlsplit(url)
        path = urllib.parse.unquote(parts.path)
        if parts.netloc or not path.startswith("/"):
            raise ConfigError(f"chDB URL needs an absolute path: chdb:///abs/path, got {url}")
        return ChdbBackend(path, readonly=readonly)
    if scheme in ("http", "https"):
        from analytics.backends.http import HttpBackend

        return HttpBackend(url, readonly=readonly)
    if scheme in ("clickhouse", "clickhouses"):
        from analytics.backends.connect import ConnectBackend

        return ConnectBackend(url, readonly=readonly)
    raise ConfigError(
        f"unsupported analytics URL {redact_url(url)}; use chdb:///abs/path, http://host:port "
        "or clickhouse://user:pass@host:port/db"
    )
