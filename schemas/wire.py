"""Confluent wire format header: magic byte 0, then the schema id as 4 big-endian bytes.

>>> header(7)
b'\\x00\\x00\\x00\\x00\\x07'
>>> read_header(header(7) + b"body")
7
"""

from __future__ import annotations

from schemas.exceptions import BadMagicError, TruncatedError

MAGIC = 0
HEADER_SIZE = 5


def header(schema_id: int) -> bytes:
    """The 5-byte header of a message written with `schema_id`."""
    return bytes((MAGIC,)) + int(schema_id).to_bytes(4, "big")


def read_header(data: bytes) -> int:
    """Schema id from a message's header; raise `TruncatedError` / `BadMagicError`."""
    n = len(data)
    if n == 0:
        raise TruncatedError("empty message: no Confluent header (5 bytes) and no Avro body")
    if data[0] != MAGIC:
        raise BadMagicError(
            f"first byte is 0x{data[0]:02x}, not the Confluent magic byte 0x00; the producer did not use "
            f"the Confluent Avro wire format (plain JSON or raw Avro?)"
        )
    if n < HEADER_SIZE:
        raise TruncatedError(f"message has {n} bytes, shorter than the 5-byte Confluent header")
    return int.from_bytes(data[1:HEADER_SIZE], "big")
