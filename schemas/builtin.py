"""Eddy's own record contracts (`schemas/avro/*.avsc`), loaded and checked with fastavro.

>>> load_builtin("score")["name"]
'eddy.Score'
>>> sorted(BUILTIN_SCHEMAS)
['alert', 'dlq', 'label', 'model_event', 'score']
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from schemas.avsc import Schema, load_avsc
from schemas.exceptions import SchemaLoadError

AVRO_DIR = Path(__file__).with_name("avro")
BUILTIN_SCHEMAS: dict[str, str] = {
    "score": "score.avsc",
    "label": "label.avsc",
    "model_event": "model_event.avsc",
    "alert": "alert.avsc",
    "dlq": "dlq.avsc",
}
_ALIASES = {"Score": "score", "Label": "label", "ModelEvent": "model_event", "Alert": "alert", "DlqRecord": "dlq"}


def builtin_path(name: str) -> Path:
    """Path of a built-in `.avsc` (`score`, `label`, `model_event`, `alert`, `dlq`)."""
    key = _ALIASES.get(name, name)
    if key not in BUILTIN_SCHEMAS:
        raise SchemaLoadError(f"no built-in schema {name!r}; use one of {sorted(BUILTIN_SCHEMAS)}")
    return AVRO_DIR / BUILTIN_SCHEMAS[key]


def load_builtin(name: str) -> Schema:
    """Parsed built-in schema by short name (`score`) or record name (`Score`).

    The result is cached and shared (the same object each call, which also lets `AvroCodec`
    cache reader resolution for it): do not mutate it.
    """
    return _load(builtin_path(name))


@cache
def _load(path: Path) -> Schema:
    return load_avsc(path)


def check_all(paths: Iterable[str | Path] = ()) -> dict[str, Schema]:
    """Parse every built-in schema plus every `.avsc` in `paths` (files or folders).

    Called by a worker at start: returns {name or path: parsed schema}, or raises
    `SchemaLoadError` listing every broken file at once.
    """
    out: dict[str, Schema] = {}
    problems: list[str] = []
    for name in BUILTIN_SCHEMAS:
        try:
            out[name] = load_builtin(name)
        except SchemaLoadError as exc:
            problems.append(str(exc))
    for p in paths:
        p = Path(p)
        files = sorted(p.glob("*.avsc")) if p.is_dir() else [p]
        for f in files:
            try:
                out[str(f)] = load_avsc(f)
            except SchemaLoadError as exc:
                problems.append(str(exc))
    if problems:
        raise SchemaLoadError("invalid Avro schemas:\n  " + "\n  ".join(problems))
    return out
