"""FolderRegistry: stable, persisted ids; sameness by canonical form; two processes at once."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest
from schemas_testkit import EVENT_V1

from schemas import FolderRegistry, RegistryError, SchemaNotFoundError, canonical, load_builtin, subject_for


def test_ids_are_stable_across_instances(tmp_path):
    a = FolderRegistry(tmp_path)
    sid = a.register("fraud.events-value", EVENT_V1)
    score_id = a.register("fraud.scores-value", load_builtin("score"))
    b = FolderRegistry(tmp_path)
    assert b.register("fraud.events-value", EVENT_V1) == sid
    assert b.latest("fraud.scores-value")[0] == score_id
    assert canonical(b.get_by_id(sid)) == canonical(EVENT_V1)
    assert (tmp_path / f"{sid}.avsc").exists() and (tmp_path / "index.json").exists()


def test_same_schema_twice_same_id_even_reformatted(registry):
    sid = registry.register("t-value", EVENT_V1)
    text = json.dumps(EVENT_V1, indent=4)
    assert registry.register("t-value", text) == sid
    with_doc = dict(EVENT_V1, doc="a transaction")
    assert registry.register("t-value", with_doc) == sid
    assert registry.versions("t-value") == [sid]


def test_default_change_is_a_new_version(registry):
    s1 = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "int", "default": 1}]}
    s2 = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "int", "default": 2}]}
    assert registry.register("t-value", s1) != registry.register("t-value", s2)


def test_ids_are_global_and_shared_across_subjects(registry):
    a = registry.register("a-value", EVENT_V1)
    b = registry.register("b-value", load_builtin("label"))
    c = registry.register("c-value", EVENT_V1)
    assert (a, b, c) == (1, 2, 1)
    assert registry.subjects() == ["a-value", "b-value", "c-value"]


def test_latest_and_unknowns(registry):
    with pytest.raises(SchemaNotFoundError, match="no schema registered under subject 'x-value'"):
        registry.latest("x-value")
    with pytest.raises(SchemaNotFoundError, match="schema id 42"):
        registry.get_by_id(42)
    assert registry.get is not None and subject_for("x") == "x-value"


def test_check_compatible_with_empty_subject_is_fine(registry):
    assert registry.check_compatible("new-value", EVENT_V1) is None


def test_corrupt_index_is_reported(tmp_path):
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(RegistryError, match="unreadable"):
        FolderRegistry(tmp_path).latest("x")


def _register_many(path: str, worker: int, n: int, out) -> None:
    reg = FolderRegistry(path)
    ids = {}
    for i in range(n):
        schema = {"type": "record", "name": f"E{i}", "fields": [{"name": "a", "type": "int"}]}
        ids[i] = reg.register(f"s{i}-value", schema)
    out.put((worker, ids))


def test_two_processes_register_concurrently(tmp_path):
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_register_many, args=(str(tmp_path), w, 25, out)) for w in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    # both processes agree on every id, and ids are distinct per distinct schema
    assert results[0] == results[1]
    assert sorted(results[0].values()) == list(range(1, 26))
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["next_id"] == 26 and len(index["subjects"]) == 25
