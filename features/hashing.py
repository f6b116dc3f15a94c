"""Stable 64-bit hashes of values for distinct counts (never Python's randomized `hash()`).

Strings and bytes hash with blake2b (8-byte digest, little-endian signed); numbers (bool, int,
float) hash as the IEEE-754 bits of their float value, with -0.0 folded into 0.0, so 1 and 1.0
count as the same value. An int with no exact float (beyond 2**53, e.g. a 64-bit id) hashes its
exact two's-complement bytes (blake2b, personalised for ints): two ids never merge because they
round to one float.

>>> stable_hash("abc") == stable_hash("abc"), stable_hash(1) == stable_hash(1.0)
(True, True)
>>> stable_hash("1") == stable_hash(1)
False
>>> stable_hash(2**53 + 1) == stable_hash(2**53 + 2), stable_hash(2**60) == stable_hash(float(2**60))
(False, True)
"""

from __future__ import annotations

import hashlib
import math
import struct

#: Every int within ±EXACT_INT has an exact float (and hashes as it); beyond, one may not.
EXACT_INT = 2**53

_PACK_DOUBLE = struct.Struct("<d")
_UNPACK_INT = struct.Struct("<q")


def stable_hash(value: object) -> int:
    """Stable int64 hash of a str, bytes, bool, int or finite float; TypeError/ValueError else."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little", signed=True)
    if isinstance(value, int) and not -EXACT_INT <= value <= EXACT_INT:
        try:
            exact = float(value) == value  # Python compares an int and a float exactly
        except OverflowError:
            exact = False
        if not exact:
            raw = int(value).to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
            return int.from_bytes(hashlib.blake2b(raw, digest_size=8, person=b"eddy-int").digest(), "little",
                                  signed=True)
    if isinstance(value, (bool, int, float)):
        x = float(value) + 0.0
        if not math.isfinite(x):
            raise ValueError(f"value {value!r} is not finite")
        return _UNPACK_INT.unpack(_PACK_DOUBLE.pack(x))[0]
    raise TypeError(f"cannot hash a {type(value).__name__} for a distinct count; use str or a number")
