"""Errors raised by the analytics package.

Every class is a one-line subclass of :class:`eddy.errors.EddyError`; foreign errors (chDB,
urllib, clickhouse-connect) are wrapped ``from exc``. Messages never contain passwords.
"""

from eddy.errors import EddyError


class AnalyticsError(EddyError):
    """Base class of every analytics error."""


class ConfigError(AnalyticsError):
    """A bad URL, identifier, placeholder or parameter value: fix the argument."""


class BackendError(AnalyticsError):
    """The backend answered with an error."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached (down, refused, timed out): retry later."""


class QueryError(BackendError):
    """The SQL was rejected (syntax, unknown column, bad data): fix the query or the rows."""


class ReadOnlyError(QueryError):
    """A write was sent to a read-only endpoint: pass readonly=0 (``eddy sql --write``)."""


class RowError(AnalyticsError):
    """A row does not fit its table (missing column, wrong type): send it to the DLQ."""


class SinkFull(AnalyticsError):
    """The sink buffer is at ``max_buffered_rows``: pause consuming while ``backpressure``."""
