"""ClickHouse backends behind one interface."""

from analytics.backends.base import Backend
from analytics.backends.chdb import ChdbBackend
from analytics.backends.connect import ConnectBackend
from analytics.backends.http import HttpBackend
from analytics.backends.url import connect, redact_url

__all__ = ["Backend", "ChdbBackend", "ConnectBackend", "HttpBackend", "connect", "redact_url"]
