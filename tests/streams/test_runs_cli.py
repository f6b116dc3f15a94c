"""`eddy runs show R --config` prints a config that works when saved in another folder."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import streams.cli.runs as runs_cli
from streams.cli.main import app
from streams.config import load_config
from streams.manifest import build_manifest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "config.yaml"


def _manifest():
    return build_manifest(load_config(EXAMPLE), "backtest-1", kind="replay", created_at=0)


def test_the_printed_config_loads_from_another_folder(tmp_path, monkeypatch):
    m = _manifest()
    assert "schema: transaction.avsc" in m.config_yaml  # stored as written: relative to the config file
    monkeypatch.setattr(runs_cli, "resolve_one", lambda *a, **k: "chdb:unused")
    monkeypatch.setattr(runs_cli, "connect", lambda url: object())
    monkeypatch.setattr(runs_cli, "load_manifest", lambda backend, db, run_id: m)
    result = CliRunner().invoke(app, ["runs", "show", "backtest-1", "--config"])
    assert result.exit_code == 0, result.output
    elsewhere = tmp_path / "elsewhere" / "challenger.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(result.output.replace("name: logreg", "name: logreg2"))  # edited into a challenger
    monkeypatch.chdir(tmp_path)
    saved = load_config(elsewhere)
    assert saved.schema_file == load_config(EXAMPLE).schema_file and saved.schema_file.is_file()
    assert saved.models.champion.name == "logreg2"


def test_the_config_is_unchanged_otherwise():
    m = _manifest()
    original, portable = load_config(EXAMPLE), runs_cli.portable_config(m)
    assert portable.count("\n") == m.config_yaml.count("\n")
    assert [ln for ln in portable.splitlines() if "schema:" not in ln] == \
        [ln for ln in m.config_yaml.splitlines() if "schema:" not in ln]
    assert f"schema: {original.schema_file}" in portable
    # an absolute path, or a manifest without config_dir, is printed as stored
    bare = m.with_inputs(config_dir=None)
    assert runs_cli.portable_config(bare) == m.config_yaml
