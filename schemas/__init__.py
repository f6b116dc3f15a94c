"""Avro contracts, schema registries, Confluent wire format, evolution and ingestion rules."""

from schemas.avsc import canonical, load_avsc, parse, strip_time_logical_types
from schemas.builtin import BUILTIN_SCHEMAS, builtin_path, check_all, load_builtin
from schemas.codec import AvroCodec
from schemas.compat import check_compatibility, compatibility_problems, resolution_problems
from schemas.confluent import ConfluentRegistry
from schemas.dlq import dlq_record_from_failure, make_dlq_record
from schemas.durations import format_duration, parse_duration
from schemas.exceptions import (
    DECODE_ERRORS,
    ERROR_CLASSES,
    BadMagicError,
    CorruptAvroError,
    DecodeError,
    DuplicateError,
    EncodeError,
    IncompatibleSchemaError,
    NotFiniteError,
    RegistryError,
    RegistryUnavailableError,
    RuleViolationError,
    SchemaError,
    SchemaLoadError,
    SchemaMismatchError,
    SchemaNotFoundError,
    TooLargeError,
    TruncatedError,
    UnknownSchemaIdError,
)
from schemas.failure import DecodeFailure
from schemas.folder import FolderRegistry
from schemas.readers import FORMATS, RowResult, detect_format, fill_defaults, read_records
from schemas.registry import SchemaRegistry, subject_for
from schemas.rules import IngestRules, Range, check_rules, check_size, sure_pass
from schemas.validate import find_non_finite, validation_errors
from schemas.wire import HEADER_SIZE, MAGIC, header, read_header

__all__ = [
    "BUILTIN_SCHEMAS",
    "DECODE_ERRORS",
    "ERROR_CLASSES",
    "FORMATS",
    "HEADER_SIZE",
    "MAGIC",
    "AvroCodec",
    "BadMagicError",
    "ConfluentRegistry",
    "CorruptAvroError",
    "DecodeError",
    "DecodeFailure",
    "DuplicateError",
    "EncodeError",
    "FolderRegistry",
    "IncompatibleSchemaError",
    "IngestRules",
    "NotFiniteError",
    "Range",
    "RegistryError",
    "RegistryUnavailableError",
    "RowResult",
    "RuleViolationError",
    "SchemaError",
    "SchemaLoadError",
    "SchemaMismatchError",
    "SchemaNotFoundError",
    "SchemaRegistry",
    "TooLargeError",
    "TruncatedError",
    "UnknownSchemaIdError",
    "builtin_path",
    "canonical",
    "check_all",
    "check_compatibility",
    "check_rules",
    "check_size",
    "compatibility_problems",
    "detect_format",
    "dlq_record_from_failure",
    "fill_defaults",
    "find_non_finite",
    "format_duration",
    "header",
    "load_avsc",
    "load_builtin",
    "make_dlq_record",
    "parse",
    "parse_duration",
    "read_header",
    "read_records",
    "resolution_problems",
    "strip_time_logical_types",
    "subject_for",
    "sure_pass",
    "validation_errors",
]
