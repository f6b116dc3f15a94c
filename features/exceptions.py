"""Errors raised by the `features` package.

Every class is a one-line subclass of :class:`eddy.errors.EddyError`; messages say what to do.
"""

from eddy.errors import EddyError


class FeatureError(EddyError):
    """Base class of every error raised by `features`."""


class FeatureSpecError(FeatureError, ValueError):
    """A feature specification (or a duration string) is invalid; fix the pipeline config."""


class FeatureInputError(FeatureError):
    """Events given to `FeatureEngine.process` cannot be processed; route them to the DLQ first."""


class StateStoreError(FeatureError):
    """The state store failed (Redis down, corrupt or foreign state)."""


class StateConflictError(StateStoreError):
    """Compare-and-set kept failing after every retry: too many writers on the same keys."""
