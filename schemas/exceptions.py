"""The `schemas` package's errors.

Two families:

* configuration / registry errors (`SchemaLoadError`, `RegistryError`, `IncompatibleSchemaError`,
  `EncodeError`), raised to the caller;
* `DecodeError` subclasses, one per DLQ error class. Each carries a stable `error_class` string
  (the value written into a `DlqRecord`) and a human-readable `reason`.
"""

from __future__ import annotations

from eddy.errors import EddyError


class SchemaError(EddyError):
    """Base class of every error of the `schemas` package."""


class SchemaLoadError(SchemaError):
    """An `.avsc` file is missing, not JSON, or not a valid Avro schema."""


class RegistryError(SchemaError):
    """The schema registry could not answer (folder unreadable, HTTP error)."""


class RegistryUnavailableError(RegistryError):
    """The schema registry could not be reached at all."""


class SchemaNotFoundError(RegistryError):
    """No schema under that id, or no version under that subject."""


class IncompatibleSchemaError(SchemaError):
    """A new schema cannot be registered: it would break readers or writers of the subject.

    `problems` lists one readable line per field that broke compatibility.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class EncodeError(SchemaError):
    """A record does not match its schema; the message names the field."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class DecodeError(SchemaError):
    """A message cannot be turned into a valid record. Subclasses fix `error_class`."""

    error_class: str = "decode_error"

    def __init__(self, reason: str, schema_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.schema_id = schema_id


class BadMagicError(DecodeError):
    """The first byte is not the Confluent magic byte 0."""

    error_class = "bad_magic"


class UnknownSchemaIdError(DecodeError):
    """The 4-byte schema id is not in the registry."""

    error_class = "unknown_schema_id"


class TruncatedError(DecodeError):
    """The message ends before the header or the Avro body is complete."""

    error_class = "truncated"


class CorruptAvroError(DecodeError):
    """The Avro body is not a valid encoding of the writer schema."""

    error_class = "corrupt_avro"


class SchemaMismatchError(DecodeError):
    """The writer schema cannot be read with the pipeline's reader schema."""

    error_class = "schema_mismatch"


class NotFiniteError(DecodeError):
    """A float/double field holds NaN or +/-inf."""

    error_class = "not_finite"


class RuleViolationError(DecodeError):
    """The record breaks one of the pipeline's ingestion rules."""

    error_class = "rule_violation"


class DuplicateError(DecodeError):
    """The event id was already seen inside the dedup horizon."""

    error_class = "duplicate"


class TooLargeError(DecodeError):
    """The message is bigger than the configured maximum."""

    error_class = "too_large"


DECODE_ERRORS: tuple[type[DecodeError], ...] = (
    BadMagicError,
    UnknownSchemaIdError,
    TruncatedError,
    CorruptAvroError,
    SchemaMismatchError,
    NotFiniteError,
    RuleViolationError,
    DuplicateError,
    TooLargeError,
)
ERROR_CLASSES: tuple[str, ...] = tuple(e.error_class for e in DECODE_ERRORS)
