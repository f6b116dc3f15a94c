"""Schema compatibility (Avro reader/writer resolution rules) over parsed schemas.

`BACKWARD` (default): a consumer using the new schema can read data written with the old one.
`FORWARD`: a consumer still on the old schema can read data written with the new one.
`FULL`: both. `NONE`: no check.

>>> old = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "int"}]}
>>> new = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "long"},
...        {"name": "b", "type": "string"}]}
>>> resolution_problems(reader=new, writer=old)
["field 'b' was added without a default: old data has no value for it; add a default to field 'b'"]
>>> resolution_problems(reader=new, writer=old | {"fields": old["fields"] + [{"name": "b", "type": "string"}]})
[]
"""

from __future__ import annotations

from typing import Literal

from schemas.avsc import Schema, named_types, parse, type_name
from schemas.exceptions import IncompatibleSchemaError

Compatibility = Literal["BACKWARD", "FORWARD", "FULL", "NONE"]
COMPATIBILITY_LEVELS: tuple[str, ...] = ("BACKWARD", "FORWARD", "FULL", "NONE")

# writer type -> reader types that can read it (Avro spec, "Schema Resolution").
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"int", "long", "float", "double"}),
    "long": frozenset({"long", "float", "double"}),
    "float": frozenset({"float", "double"}),
    "double": frozenset({"double"}),
    "string": frozenset({"string", "bytes"}),
    "bytes": frozenset({"bytes", "string"}),
    "null": frozenset({"null"}),
    "boolean": frozenset({"boolean"}),
}


class _Resolver:
    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.rnames = named_types(reader)
        self.wnames = named_types(writer)
        self.seen: set[tuple[str, str]] = set()

    def deref(self, s: Schema, names: dict[str, Schema]) -> Schema:
        if isinstance(s, str) and s in names:
            return names[s]
        if isinstance(s, dict) and isinstance(s.get("type"), (str, list, dict)) and set(s) - {"logicalType"} == {"type"}:
            t = s["type"]
            if isinstance(t, str) and t in names:
                return names[t]
            if isinstance(t, str) and t not in ("record", "error", "enum", "fixed", "array", "map"):
                return t
            if isinstance(t, (list, dict)):
                return self.deref(t, names)
        return s

    @staticmethod
    def kind(s: Schema) -> str:
        if isinstance(s, list):
            return "union"
        if isinstance(s, str):
            return s
        t = s["type"]
        return "record" if t == "error" else t

    @staticmethod
    def _short(name: str) -> str:
        return name.rsplit(".", 1)[-1]

    def names_match(self, r: dict, w: dict) -> bool:
        rn, wn = r.get("name", ""), w.get("name", "")
        if rn == wn or self._short(rn) == self._short(wn):
            return True
        aliases = r.get("aliases") or []
        return wn in aliases or self._short(wn) in [self._short(a) for a in aliases]

    def matches(self, r: Schema, w: Schema) -> bool:
        """Shallow match used to pick a union branch."""
        rk, wk = self.kind(r), self.kind(w)
        if wk in PROMOTIONS:
            return rk in PROMOTIONS[wk]
        if rk != wk:
            return False
        if rk in ("record", "enum", "fixed"):
            return self.names_match(r, w)
        return True

    def check(self, r: Schema, w: Schema, path: str) -> list[str]:
        r, w = self.deref(r, self.rnames), self.deref(w, self.wnames)
        rk, wk = self.kind(r), self.kind(w)
        where = f"field '{path}'" if path else "the top-level schema"
        if wk == "union":
            out: list[str] = []
            for branch in w:
                problems = self.check(r, branch, path)
                bk = self.kind(self.deref(branch, self.wnames))
                if problems and rk != "union" and bk not in ("record", "array", "map"):
                    problems = [
                        (f"{where} may be {type_name(branch)} (a branch of {type_name(w)}), which "
                        f"{type_name(r)} cannot hold; add {type_name(branch)} to the union of field '{path}' "
                        f"or keep the old type")
                    ]
                out += problems
            return out
        if rk == "union":
            for branch in r:
                if self.matches(self.deref(branch, self.rnames), w):
                    return self.check(branch, w, path)
            return [
                (f"{where} has type {type_name(r)}, which cannot hold the other side's {type_name(w)}; "
                f"add {type_name(w)} to the union of field '{path}'")
            ]
        if wk in PROMOTIONS:
            if rk in PROMOTIONS[wk]:
                return []
            return [
                (f"{where} changed type from {wk} to {type_name(r)}, which is not a promotion "
                f"(allowed: int->long->float->double, string<->bytes); keep field '{path}' as {wk} "
                f"or add a new field with a default instead")
            ]
        if rk != wk:
            return [
                (f"{where} changed type from {type_name(w)} to {type_name(r)}; "
                f"keep the old type or add a new field with a default instead")
            ]
        if rk == "array":
            return self.check(r["items"], w["items"], f"{path}[]" if path else "[]")
        if rk == "map":
            return self.check(r["values"], w["values"], f"{path}{{}}" if path else "{}")
        if not self.names_match(r, w):
            return [
                (f"{where} changed its {rk} name from {w.get('name')} to {r.get('name')}; "
                f"keep the name or add the old one to 'aliases'")
            ]
        if rk == "fixed":
            if r.get("size") != w.get("size"):
                return [f"{where} changed fixed size from {w.get('size')} to {r.get('size')}; keep the size"]
            return []
        if rk == "enum":
            lost = [s for s in w["symbols"] if s not in r["symbols"]]
            if lost and "default" not in r:
                return [
                    (f"{where} (enum {r.get('name')}) lost symbol(s) {lost} that the other side may still "
                    f"use; keep the symbols or give enum {r.get('name')} a default symbol")
                ]
            return []
        # record
        pair = (r.get("name", ""), w.get("name", ""))
        if pair in self.seen:
            return []
        self.seen.add(pair)
        wfields = {f["name"]: f for f in w["fields"]}
        out = []
        for rf in r["fields"]:
            fpath = f"{path}.{rf['name']}" if path else rf["name"]
            wf = wfields.get(rf["name"])
            if wf is None:
                for alias in rf.get("aliases") or []:
                    wf = wfields.get(alias)
                    if wf is not None:
                        break
            if wf is None:
                if "default" not in rf:
                    out.append(
                        f"field '{fpath}' was added without a default: old data has no value for it; "
                        f"add a default to field '{fpath}'"
                    )
                continue
            out += self.check(rf["type"], wf["type"], fpath)
        return out


def resolution_problems(reader: Schema, writer: Schema) -> list[str]:
    """Why data written with `writer` cannot be read with `reader` (empty list: it can)."""
    reader, writer = parse(reader), parse(writer)
    return _Resolver(reader, writer).check(reader, writer, "")


def compatibility_problems(new: Schema, old: Schema, mode: str = "BACKWARD") -> list[str]:
    """Problems that stop `new` from replacing `old` under `mode`."""
    mode = mode.upper()
    if mode not in COMPATIBILITY_LEVELS:
        raise ValueError(f"unknown compatibility {mode!r}; use one of {COMPATIBILITY_LEVELS}")
    out: list[str] = []
    if mode in ("BACKWARD", "FULL"):
        out += [f"new schema cannot read old data: {p}" for p in resolution_problems(new, old)]
    if mode in ("FORWARD", "FULL"):
        out += [f"old schema cannot read new data: {p}" for p in _forward(new, old)]
    return out


def _forward(new: Schema, old: Schema) -> list[str]:
    # In the FORWARD direction the old schema reads: a field removed from `new` must have a
    # default in `old`. Reword "added" (seen from the old reader) as "removed".
    problems = resolution_problems(reader=old, writer=new)
    return [
        p.replace("was added without a default: old data has no value for it", "was removed but has no default in the old schema, so old readers need it")
        .replace("add a default to field", "keep the field or give the old schema a default for field")
        for p in problems
    ]


def check_compatibility(new: Schema, old: Schema, mode: str = "BACKWARD", subject: str | None = None) -> None:
    """Raise `IncompatibleSchemaError` naming every field that breaks `mode`; return None if fine."""
    problems = compatibility_problems(new, old, mode)
    if problems:
        target = f"subject '{subject}'" if subject else "the previous schema"
        raise IncompatibleSchemaError(
            f"schema is not {mode.upper()} compatible with the latest version of {target}:\n  - "
            + "\n  - ".join(problems),
            problems,
        )
