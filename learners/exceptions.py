"""Errors raised by `learners`; every message says what to do."""

from eddy.errors import EddyError


class LearnersError(EddyError):
    """Base class of every error raised by the `learners` package."""


class ModelSpecError(LearnersError):
    """A model spec cannot be built: unknown catalog name, bad import path or bad params."""


class ModelInputError(LearnersError):
    """An input (features or label) cannot be given to a model: route it to the DLQ."""


class RegistryError(LearnersError):
    """The model registry could not read or write a snapshot."""


class VersionNotFound(RegistryError):
    """The requested model or version is not in the registry."""


class RegistryConflict(RegistryError):
    """Someone else wrote a version since this process last read: refresh, then retry."""
