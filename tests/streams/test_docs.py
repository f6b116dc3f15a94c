"""docs/config.md and docs/cli.md are generated from the code: they must be fresh."""

from __future__ import annotations

from streams.docgen import DOCS, cli_reference, config_reference


def test_config_reference_is_fresh():
    assert (DOCS / "config.md").read_text() == config_reference(), "run `python -m streams.docgen`"


def test_cli_reference_is_fresh():
    assert (DOCS / "cli.md").read_text() == cli_reference(), "run `python -m streams.docgen`"



def test_config_reference_names_durations_and_maps():
    """Every key that accepts `10m` says so (Annotated or validated ones alike); a dict of
    sub-configs is a map, not a list; worker times are plain float seconds."""
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2].strip(" `") for line in config_reference().splitlines()
            if line.startswith("| `")}
    for key in ("features.allowed_lateness", "features.windows[].window", "labels.snapshot_ttl",
                "labels.early_label_wait", "rules.max_future"):
        assert rows[key].startswith("duration"), key
    assert "rules.ranges.<name>.min" in rows and "rules.ranges[].min" not in rows
    assert rows["worker.batch_window"] == "float"
