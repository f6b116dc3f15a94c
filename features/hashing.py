"""Stable 64-bit hashes of values for distinct counts (never Python's randomized `hash()`).

Strings and bytes hash with blake2b (8-byte digest, little-endian signed); numbers (bool, int,
float) hash as the IEEE-754 bits of their float value, with -0.0 folded into 0.0, so 1 and 1.0
count as the same value.

>>> stable_hash("abc") == stable_hash("abc"), stable_hash(1) == stable_hash(1.0)
(True, True)
>>> stable_hash("1") == stable_hash(1)
False
"""

from __future__ import annotations

import hashlib
import math
import struct

_PACK_DOUBLE = struct.Struct("<d")
_UNPACK_INT = struct.Struct("<q")


def stable_hash(value: object) -> int:
    """Stable int64 hash of a str, bytes, bool, int or finite float; TypeError/ValueError else."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little", signed=True)
    if isinstance(value, (bool, int, float)):
        x = float(value) + 0.0
        if not math.isfinite(x):
            raise ValueError(f"value {value!r} is not finite")
        return _UNPACK_INT.unpack(_PACK_DOUBLE.pack(x))[0]
    raise TypeError(f"cannot hash a {type(value).__name__} for a distinct count; use str or a number")
