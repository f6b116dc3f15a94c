"""`FolderRegistry`: the default, local schema registry — a folder of `.avsc` files.

Layout::

    <path>/index.json   {"next_id": 3, "schemas": {"1": {"canonical": ..., "fingerprint": ...}},
                         "subjects": {"fraud.events-value": [1, 2]}}
    <path>/1.avsc       one file per schema id, as registered
    <path>/.lock        flock'ed by writers

Ids are global (one id per distinct schema, shared by subjects, as in Confluent), never reused,
and persist across processes. Writers take an exclusive `flock` and replace `index.json`
atomically (write to a temp file, `os.replace`), so two processes can register concurrently
and readers never see a half-written index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from schemas.avsc import Schema, canonical, clean, parse, pcf_fingerprint
from schemas.compat import COMPATIBILITY_LEVELS, check_compatibility
from schemas.exceptions import RegistryError, SchemaLoadError, SchemaNotFoundError
from schemas.registry import SchemaRegistry

INDEX = "index.json"


class FolderRegistry(SchemaRegistry):
    """Schema registry in a local folder (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], compatibility: str = "BACKWARD") -> None:
        if compatibility.upper() not in COMPATIBILITY_LEVELS:
            raise ValueError(f"unknown compatibility {compatibility!r}; use one of {COMPATIBILITY_LEVELS}")
        self.path = Path(path)
        self.compatibility = compatibility.upper()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create schema folder {self.path}: {exc}") from exc
        self._cache: dict[int, Schema] = {}
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"FolderRegistry({str(self.path)!r}, compatibility={self.compatibility!r})"

    # -- index -------------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        f = self.path / INDEX
        try:
            return json.loads(f.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"next_id": 1, "schemas": {}, "subjects": {}}
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"schema index {f} is unreadable: {exc}; restore it from a backup") from exc

    def _write_atomic(self, name: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex, open(self.path / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- SchemaRegistry ------------------------------------------------------------------------
    def register(self, subject: str, schema: Schema | str) -> int:
        parsed = parse(schema)
        key = canonical(parsed)
        with self._locked():
            index = self._read_index()
            versions: list[int] = index["subjects"].get(subject, [])
            for sid in versions:
                if index["schemas"][str(sid)]["canonical"] == key:
                    return sid
            if versions and self.compatibility != "NONE":
                old = self._load(versions[-1])
                check_compatibility(parsed, old, self.compatibility, subject=subject)
            sid = next((int(i) for i, meta in index["schemas"].items() if meta["canonical"] == key), None)
            if sid is None:
                sid = int(index["next_id"])
                index["next_id"] = sid + 1
                self._write_atomic(f"{sid}.avsc", json.dumps(clean(parsed), indent=2) + "\n")
                index["schemas"][str(sid)] = {"canonical": key, "fingerprint": pcf_fingerprint(parsed)}
            index["subjects"][subject] = versions + [sid]
            self._write_atomic(INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
            self._cache[sid] = parsed
            return sid

    def _load(self, sid: int) -> Schema:
        if sid in self._cache:
            return self._cache[sid]
        f = self.path / f"{sid}.avsc"
        try:
            text = f.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise SchemaNotFoundError(
                f"schema id {sid} is not in {self.path}; register the schema or point at the right folder"
            ) from exc
        try:
            parsed = parse(text)
        except SchemaLoadError as exc:
            raise RegistryError(f"{f} is corrupt: {exc}") from exc
        self._cache[sid] = parsed
        return parsed

    def get_by_id(self, schema_id: int) -> Schema:
        return self._load(int(schema_id))

    def latest(self, subject: str) -> tuple[int, Schema]:
        versions = self._read_index()["subjects"].get(subject)
        if not versions:
            raise SchemaNotFoundError(f"no schema registered under subject '{subject}' in {self.path}")
        return versions[-1], self._load(versions[-1])

    def versions(self, subject: str) -> list[int]:
        """Schema ids of the subject's versions, oldest first."""
        return list(self._read_index()["subjects"].get(subject, []))

    def subjects(self) -> list[str]:
        """Every subject with at least one version."""
        return sorted(self._read_index()["subjects"])
