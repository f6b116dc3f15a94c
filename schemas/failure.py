"""`DecodeFailure`: a failed message as a plain value (what `decode_batch` returns per slot)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.exceptions import DecodeError


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why one message was rejected: a stable `error_class`, a readable `reason`, the schema id if read.

    >>> from schemas.exceptions import BadMagicError
    >>> DecodeFailure.of(BadMagicError("first byte is 0x7b"))
    DecodeFailure(error_class='bad_magic', reason='first byte is 0x7b', schema_id=None)
    """

    error_class: str
    reason: str
    schema_id: int | None = None

    @classmethod
    def of(cls, exc: DecodeError) -> DecodeFailure:
        """The failure described by a `DecodeError`."""
        return cls(exc.error_class, exc.reason, exc.schema_id)
