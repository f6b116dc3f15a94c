"""Errors raised by the streaming edge (config, stack, CLI, worker, replay)."""

from eddy.errors import EddyError


class StreamsError(EddyError):
    """Base class of `streams` errors."""


class ConfigError(StreamsError):
    """The pipeline config file is missing, unreadable or invalid."""


class StackError(StreamsError):
    """The embedded stack could not be started, stopped or reached."""


class EndpointError(StreamsError):
    """No endpoint was given for a service and no running stack records one."""


class ReplayError(StreamsError):
    """A replay could not read its inputs or does not match its manifest."""
