"""`AvroCodec`: records <-> Confluent wire format bytes, through a `SchemaRegistry`.

Message = magic byte 0 + 4-byte big-endian schema id + Avro binary (fastavro schemaless).
Timestamp/date/time logical types are read and written as plain ints (ms since epoch).

>>> import tempfile
>>> from schemas.folder import FolderRegistry
>>> codec = AvroCodec(FolderRegistry(tempfile.mkdtemp()))
>>> sid = codec.register("t-value", {"type": "record", "name": "E",
...                                  "fields": [{"name": "x", "type": "double"}]})
>>> data = codec.encode("t-value", {"x": 1.5})
>>> data[:5], codec.decode(data)
(b'\\x00\\x00\\x00\\x00\\x01', {'x': 1.5})
>>> records, failures = codec.decode_batch([data, b"{}"])
>>> records, [f and f.error_class for f in failures]
([{'x': 1.5}, None], [None, 'bad_magic'])
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from dataclasses import dataclass
from struct import error as StructError
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from schemas.avsc import Schema, canonical, parse, strip_time_logical_types, type_name
from schemas.compat import resolution_problems
from schemas.exceptions import (
    CorruptAvroError,
    DecodeError,
    EncodeError,
    NotFiniteError,
    SchemaLoadError,
    SchemaMismatchError,
    SchemaNotFoundError,
    TooLargeError,
    TruncatedError,
    UnknownSchemaIdError,
)
from schemas.failure import DecodeFailure
from schemas.registry import SchemaRegistry
from schemas.validate import find_non_finite, validation_errors
from schemas.wire import HEADER_SIZE, header, read_header

_MAX_CACHED = 256
#: how long a schema id the registry did not have (or that is not Avro) answers from memory (s):
#: a stream of messages with a bad id asks the registry once per period, not once per message
FAILED_ID_TTL = 10.0


class _ShortReads(io.BytesIO):
    """A buffer that remembers whether a read ran past its end (the body is cut) or was asked
    for a negative size (a corrupt length), to classify a failed decode; error path only."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.cut = self.negative = False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            self.negative = self.negative or not self.cut
            return super().read(size)
        out = super().read(size)
        if len(out) < size and not self.negative:
            self.cut = True
        return out


def _ran_out(data: bytes, writer: Schema, reader: Schema | None) -> bool:
    """Whether decoding `data` (a whole message) fails because it ends early, rather than on a
    structural error first (negative length, bad union/enum index, invalid UTF-8)."""
    buf = _ShortReads(data)
    buf.seek(HEADER_SIZE)
    with contextlib.suppress(Exception):  # only which came first matters here
        schemaless_reader(buf, writer, reader)
    return buf.cut


def _ends_early(n: int, sid: int) -> TruncatedError:
    """The `truncated` failure of an `n`-byte message whose Avro body ran out."""
    return TruncatedError(
        f"Avro body ends early ({n - HEADER_SIZE} bytes) for writer schema id {sid}; "
        f"the message was cut or was not written with this schema",
        sid,
    )


@dataclass(frozen=True, slots=True)
class _Resolved:
    writer: Schema  # stripped, parsed
    reader: Schema | None  # stripped, parsed (None: read as written)
    mismatch: str | None  # why the writer cannot be read with the reader
    given: Schema | None  # the reader schema object the caller passed (identity check)
    track: bool = False  # reader differs from writer: fastavro skips dropped fields without checking the end


class AvroCodec:
    """Encode and decode Confluent wire format messages.

    `check_finite`: refuse NaN/inf in float/double fields (on decode: `not_finite`).
    `max_bytes`: refuse bigger messages on decode (`too_large`); None for no limit.
    Registry outages (`RegistryUnavailableError`) are raised, never turned into DLQ failures; a
    writer schema that is not Avro (or that Eddy cannot parse) is the message's fault: `schema_mismatch`.
    """

    def __init__(self, registry: SchemaRegistry, *, check_finite: bool = True, max_bytes: int | None = None) -> None:
        self.registry = registry
        self.check_finite = check_finite
        self.max_bytes = max_bytes
        self._subjects: dict[str, tuple[int, Schema, Schema]] = {}  # subject -> (id, parsed, stripped)
        self._writers: dict[int, Schema] = {}  # id -> stripped parsed writer schema
        self._readers: dict[int, tuple[Schema, Schema]] = {}  # id(obj) -> (obj, stripped parsed)
        self._resolved: dict[tuple[int, int], _Resolved] = {}
        self._failed: dict[int, tuple[float, DecodeError]] = {}  # id -> (until, monotonic; the error)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AvroCodec({self.registry!r})"

    # -- writing -------------------------------------------------------------------------------
    def register(self, subject: str, schema: Schema | str) -> int:
        """Register `schema` under `subject` and make it the one `encode(subject, ...)` uses."""
        parsed = parse(schema)
        sid = self.registry.register(subject, parsed)
        with self._lock:
            self._subjects[subject] = (sid, parsed, strip_time_logical_types(parsed))
        return sid

    def schema_for(self, subject: str) -> tuple[int, Schema]:
        """(id, parsed schema) `encode` uses for `subject`: the registered or latest version."""
        entry = self._subjects.get(subject)
        if entry is None:
            try:
                sid, parsed = self.registry.latest(subject)
            except SchemaNotFoundError as exc:
                raise EncodeError(
                    f"no schema for subject '{subject}'; register one first (codec.register or the registry)"
                ) from exc
            entry = (sid, parsed, strip_time_logical_types(parsed))
            with self._lock:
                self._subjects[subject] = entry
        return entry[0], entry[1]

    def encode(self, subject: str, record: dict[str, Any], *, allow_non_finite: bool = False,
               validate: bool = True) -> bytes:
        """Validate `record` against the subject's schema and return wire-format bytes.

        Raises `EncodeError` naming the field(s) that do not match. `validate=False` is the hot
        path for records Eddy built itself: no up-front validation (fastavro still refuses a
        record it cannot write, and then the full validation explains why).
        """
        sid, _ = self.schema_for(subject)
        stripped = self._subjects[subject][2]
        if not validate:
            buf = io.BytesIO()
            buf.write(header(sid))
            try:
                schemaless_writer(buf, stripped, record)
                return buf.getvalue()
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
                pass  # fall through: validation names the bad field
        return self._encode(sid, stripped, record, allow_non_finite, f"subject '{subject}'")

    def encode_with_id(self, schema_id: int, record: dict[str, Any], *, allow_non_finite: bool = False) -> bytes:
        """Like `encode` with an explicit registered schema id."""
        return self._encode(schema_id, self._writer(schema_id), record, allow_non_finite, f"schema id {schema_id}")

    def _encode(self, sid: int, stripped: Schema, record: Any, allow_non_finite: bool, what: str) -> bytes:
        problems = validation_errors(record, stripped, allow_non_finite=allow_non_finite)
        if problems:
            raise EncodeError(
                f"record does not match the schema of {what} ({type_name(stripped)}): " + "; ".join(problems),
                problems,
            )
        buf = io.BytesIO()
        buf.write(header(sid))
        try:
            schemaless_writer(buf, stripped, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodeError(f"cannot encode record for {what}: {exc}") from exc
        return buf.getvalue()

    # -- reading -------------------------------------------------------------------------------
    def _writer(self, sid: int) -> Schema:
        w = self._writers.get(sid)
        if w is None:
            failed = self._failed.get(sid)
            if failed is not None and time.monotonic() < failed[0]:
                raise type(failed[1])(failed[1].reason, sid)
            try:
                parsed = self.registry.get_by_id(sid)
            except SchemaNotFoundError as exc:
                raise self._remember(sid, UnknownSchemaIdError(
                    f"schema id {sid} is not in the registry {self.registry!r}; the producer used another "
                    f"registry or an unregistered schema",
                    sid,
                )) from exc
            except SchemaLoadError as exc:  # a Protobuf / JSON Schema id, or a schema Eddy cannot parse
                raise self._remember(sid, SchemaMismatchError(
                    f"writer schema id {sid} cannot be used to read Avro: {exc}; the producer used another "
                    f"serializer or a schema Eddy does not support",
                    sid,
                )) from exc
            w = strip_time_logical_types(parsed)
            with self._lock:
                self._writers[sid] = w
        return w

    def _remember(self, sid: int, error: DecodeError) -> DecodeError:
        """Answer `sid` with `error` for `FAILED_ID_TTL` s without asking the registry again
        (registry outages are never remembered: they raise before this)."""
        with self._lock:
            if len(self._failed) >= _MAX_CACHED:
                self._failed.clear()
            self._failed[sid] = (time.monotonic() + FAILED_ID_TTL, error)
        return error

    def _reader(self, reader_schema: Schema) -> Schema:
        hit = self._readers.get(id(reader_schema))
        if hit is None or hit[0] is not reader_schema:
            hit = (reader_schema, strip_time_logical_types(parse(reader_schema)))
            with self._lock:
                self._readers[id(reader_schema)] = hit
        return hit[1]

    def _resolve(self, sid: int, reader_schema: Schema | None) -> _Resolved:
        key = (sid, id(reader_schema) if reader_schema is not None else 0)
        res = self._resolved.get(key)
        if res is None or res.given is not reader_schema:
            writer = self._writer(sid)
            reader = self._reader(reader_schema) if reader_schema is not None else None
            mismatch = None
            if reader is not None:
                problems = resolution_problems(reader=reader, writer=writer)
                if problems:
                    mismatch = (
                        f"writer schema id {sid} ({type_name(writer)}) cannot be read with the reader schema "
                        f"({type_name(reader)}): " + "; ".join(problems)
                    )
            track = reader is not None and canonical(writer) != canonical(reader)
            res = _Resolved(writer, reader, mismatch, reader_schema, track)
            with self._lock:
                if len(self._resolved) >= _MAX_CACHED:  # callers passing a fresh schema object per call
                    self._resolved.clear()
                    self._readers.clear()
                self._resolved[key] = res
        return res

    def decode(self, data: bytes | None, reader_schema: Schema | None = None) -> dict[str, Any]:
        """Record from wire-format bytes; raise a `DecodeError` subclass (see `error_class`).

        A null value (a Kafka tombstone) is `truncated`, like an empty message.
        With `reader_schema`, the record is resolved from the writer schema (by id) to it.
        """
        if data is None:
            raise TruncatedError("null value (a Kafka tombstone): no Confluent header and no Avro body")
        n = len(data)
        if self.max_bytes is not None and n > self.max_bytes:
            raise TooLargeError(f"message has {n} bytes, more than the limit of {self.max_bytes}")
        sid = read_header(data)
        res = self._resolve(sid, reader_schema)
        if res.mismatch is not None:
            raise SchemaMismatchError(res.mismatch, sid)
        buf = _ShortReads(data) if res.track else io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buf, res.writer, res.reader)
        except SchemaResolutionError as exc:
            raise SchemaMismatchError(f"writer schema id {sid} cannot be read with the reader schema: {exc}", sid) from exc
        except (EOFError, StructError, ValueError, UnicodeDecodeError, IndexError, KeyError, TypeError, OverflowError,
                MemoryError) as exc:
            # fastavro says EOFError for a negative length too, and IndexError both for a varint
            # that runs past the end and for a bad union/enum index: read again to tell them apart
            if buf.tell() >= n and not isinstance(exc, UnicodeDecodeError) and _ran_out(data, res.writer, res.reader):
                raise _ends_early(n, sid) from exc
            raise CorruptAvroError(
                f"Avro body is not a valid encoding of writer schema id {sid}: {type(exc).__name__}: {exc}"[:500],
                sid,
            ) from exc
        if res.track and (buf.cut or buf.negative):  # a field the reader drops was cut, or had a negative length
            if buf.cut:
                raise _ends_early(n, sid)
            raise CorruptAvroError(
                f"Avro body is not a valid encoding of writer schema id {sid}: a negative length", sid
            )
        left = n - buf.tell()
        if left:
            raise CorruptAvroError(
                f"{left} byte(s) left after the record: the body does not match writer schema id {sid} "
                f"(wrong schema id or corrupt bytes)",
                sid,
            )
        if self.check_finite:
            hit = find_non_finite(record)
            if hit is not None:
                raise NotFiniteError(
                    f"field '{hit[0]}' is {hit[1]}; NaN and infinity are not accepted, fix the producer", sid
                )
        return record

    def decode_batch(
        self, values: list[bytes], reader_schema: Schema | None = None
    ) -> tuple[list[dict[str, Any] | None], list[DecodeFailure | None]]:
        """Decode many messages; slot i holds a record or a `DecodeFailure` (the other is None).

        Never raises for bad input (only for registry outages); parsed schemas, readers and
        resolution checks are cached per schema id and reader schema object (pass the same
        object each time, e.g. from `load_builtin` or parsed once at start).
        """
        records: list[dict[str, Any] | None] = []
        failures: list[DecodeFailure | None] = []
        decode = self.decode
        for data in values:
            try:
                records.append(decode(data, reader_schema))
                failures.append(None)
            except DecodeError as exc:
                records.append(None)
                failures.append(DecodeFailure(exc.error_class, exc.reason, exc.schema_id))
        return records, failures
