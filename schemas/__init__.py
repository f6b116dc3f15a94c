"""Avro contracts, schema registries, Confluent wire format, evolution and ingestion rules."""

from schemas.avsc import canonical, load_avsc, parse, strip_time_logical_types
from schemas.builtin import BUILTIN_SCHEMAS, builtin_path, check_all, load_builtin
from schemas.codec import AvroCodec
from schemas.compat import check_compatibility, compatibility_problems, resolution_problems
from schemas.confluent import ConfluentRegistry
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
from schemas.registry import SchemaRegistry, subject_for
from schemas.validate import find_non_finite, validation_errors
from schemas.wire import HEADER_SIZE, MAGIC, header, read_header

__all__ = [
    "BUILTIN_SCHEMAS",
    "DECODE_ERRORS",
    "ERROR_CLASSES",
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
    "NotFiniteError",
    "RegistryError",
    "RegistryUnavailableError",
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
    "compatibility_problems",
    "find_non_finite",
    "header",
    "load_avsc",
    "load_builtin",
    "parse",
    "read_header",
    "resolution_problems",
    "strip_time_logical_types",
    "subject_for",
    "validation_errors",
]
