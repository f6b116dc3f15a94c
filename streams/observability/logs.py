"""Structured logs: `eddy worker --log-format json` prints one JSON object per line.

Lifecycle events (start, assignment, model version, drift alert, outage begin/end) go through
`lifecycle(event, **fields)` on the `eddy.lifecycle` logger; per-event work is never logged.
Values that look like URLs with credentials are redacted.

>>> import io, logging
>>> buf = io.StringIO(); h = logging.StreamHandler(buf); h.setFormatter(JsonFormatter())
>>> lg = logging.getLogger("eddy.doctest"); lg.addHandler(h); lg.setLevel(logging.INFO); lg.propagate = False
>>> lg.info("started", extra={"event": "start", "redis": "redis://:pw@h:6379/0"})
>>> rec = json.loads(buf.getvalue()); rec["event"], rec["redis"], rec["msg"]
('start', 'redis://:***@h:6379/0', 'started')
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from streams.endpoints import redact

LIFECYCLE = logging.getLogger("eddy.lifecycle")
FORMATS = ("text", "json")

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value) if "@" in value else value
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    return _clean(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC ISO), level, logger, msg, plus the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _clean(record.getMessage()),
        }
        for k, v in vars(record).items():
            if k not in _STD and not k.startswith("_"):
                out[k] = _clean(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def lifecycle(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one lifecycle event: `event` plus `fields` as structured extras (and readable text)."""
    text = " ".join(f"{k}={_clean(v)}" for k, v in fields.items())
    LIFECYCLE.log(level, f"{event} {text}".strip(), extra={"event": event, **fields})


def logging_config(fmt: str, loglevel: str = "info") -> dict[str, Any] | None:
    """A `logging.config.dictConfig` for the worker (Faust/mode take it as `logging_config`).

    `text` returns None (Faust's own colored output). `json` sends every logger to stdout as JSON
    lines and quiets the libraries' per-batch chatter to warnings.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "text":
        return None
    level = loglevel.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"level": "WARNING", "handlers": ["default"]},
        "loggers": {"eddy": {"level": level}, "streams": {"level": level}},
    }


def setup_logging(fmt: str, loglevel: str = "info") -> None:
    """Apply `logging_config` now (for commands that do not run under a Faust worker)."""
    import logging.config

    cfg = logging_config(fmt, loglevel)
    if cfg is not None:
        logging.config.dictConfig(cfg)
    else:
        logging.basicConfig(level=loglevel.upper(), stream=sys.stderr)
