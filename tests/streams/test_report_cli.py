"""`eddy report` picks one run when none is named: figures never pool a replay with production."""

from __future__ import annotations

import pytest

from streams.cli.report import default_run
from streams.exceptions import StreamsError


def test_the_live_run_or_the_only_one_else_ask():
    assert default_run(["replay-1", "fraud-live"], "fraud") == "fraud-live"
    assert default_run(["replay-1"], "fraud") == "replay-1"
    assert default_run([], "fraud") is None
    with pytest.raises(StreamsError, match="pick one with --run-id"):
        default_run(["replay-1", "replay-2"], "fraud")
