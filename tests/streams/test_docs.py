"""docs/config.md and docs/cli.md are generated from the code: they must be fresh."""

from __future__ import annotations

from streams.docgen import DOCS, cli_reference, config_reference


def test_config_reference_is_fresh():
    assert (DOCS / "config.md").read_text() == config_reference(), "run `python -m streams.docgen`"


def test_cli_reference_is_fresh():
    assert (DOCS / "cli.md").read_text() == cli_reference(), "run `python -m streams.docgen`"

