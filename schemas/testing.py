"""Test kit: craft malformed messages of each kind, with the DLQ error class they must get.

For tests of workers that must survive bad input (the issue's "1,000 malformed messages"):

>>> import random, tempfile
>>> from schemas.codec import AvroCodec
>>> from schemas.folder import FolderRegistry
>>> codec = AvroCodec(FolderRegistry(tempfile.mkdtemp()))
>>> schema = {"type": "record", "name": "E", "fields": [{"name": "id", "type": "string"},
...                                                     {"name": "x", "type": "double"}]}
>>> _ = codec.register("t-value", schema)
>>> rng = random.Random(0)
>>> for kind in MALFORMED_KINDS:
...     data, expected = malformed(codec, "t-value", {"id": "a", "x": 1.0}, kind, rng)
...     assert codec.decode_batch([data], reader_schema=schema)[1][0].error_class == expected
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

from schemas.avsc import clean, strip_time_logical_types
from schemas.codec import AvroCodec
from schemas.wire import header

MALFORMED_KINDS: tuple[str, ...] = (
    "random_bytes",
    "truncated",
    "unknown_schema_id",
    "wrong_types",
    "not_finite",
    "trailing_bytes",
)
_EXPECTED = {
    "random_bytes": "bad_magic",
    "truncated": "truncated",
    "unknown_schema_id": "unknown_schema_id",
    "wrong_types": "schema_mismatch",
    "not_finite": "not_finite",
    "trailing_bytes": "corrupt_avro",
}
UNKNOWN_ID = 2**31 - 7
#: unknown ids a header can carry: the wire format's id is unsigned, the letter's field an Avro int
UNKNOWN_IDS = (UNKNOWN_ID, 2**31, 2**32 - 1)


def _kind(t: Any) -> Any:
    if isinstance(t, dict) and not isinstance(t.get("type"), (dict, list)) and set(t) <= {"type", "logicalType"}:
        return t["type"]
    return t


def _wrong_types_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], str, Any]:
    """Same record name, first field's type changed to a non-promotable one, and a value for it."""
    s = copy.deepcopy(clean(schema))
    field = s["fields"][0]
    if _kind(field["type"]) == "string":
        field["type"], value = "boolean", True
    else:
        field["type"], value = "string", "not-the-right-type"
    field.pop("default", None)
    return s, field["name"], value


def malformed(
    codec: AvroCodec, subject: str, record: dict[str, Any], kind: str, rng: random.Random
) -> tuple[bytes, str]:
    """(message bytes, expected `error_class`) for one malformed message built from a valid `record`.

    Decode with the subject's schema as `reader_schema` (needed for `wrong_types`). `not_finite`
    needs a top-level float/double field; `wrong_types` registers a second schema under
    `<subject>-wrong-types`.
    """
    _sid, schema = codec.schema_for(subject)
    valid = codec.encode(subject, record)
    if kind == "random_bytes":
        data = bytes([rng.randrange(1, 256)]) + rng.randbytes(rng.randrange(0, 64))
    elif kind == "truncated":
        data = valid[: rng.randrange(0, len(valid))]
    elif kind == "unknown_schema_id":
        data = header(rng.choice(UNKNOWN_IDS)) + valid[5:]
    elif kind == "wrong_types":
        wrong, name, value = _wrong_types_schema(schema)
        codec.register(f"{subject}-wrong-types", wrong)
        data = codec.encode(f"{subject}-wrong-types", {**record, name: value})
    elif kind == "not_finite":
        stripped = strip_time_logical_types(schema)
        names = [
            f["name"]
            for f in stripped["fields"]
            if _kind(f["type"]) in ("float", "double")
            or (isinstance(f["type"], list) and any(_kind(b) in ("float", "double") for b in f["type"]))
        ]
        if not names:
            raise ValueError(f"subject '{subject}' has no top-level float/double field to set to NaN")
        value = rng.choice([math.nan, math.inf, -math.inf])
        data = codec.encode(subject, {**record, rng.choice(names): value}, allow_non_finite=True)
    elif kind == "trailing_bytes":
        data = valid + rng.randbytes(rng.randrange(1, 8))
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; use one of {MALFORMED_KINDS}")
    return data, _EXPECTED[kind]
