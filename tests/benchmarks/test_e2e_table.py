"""The end-to-end benchmark's arithmetic: the config of each Eddy system and the per-event split."""

from __future__ import annotations

import doctest
import math

from benchmarks import e2e
from benchmarks.common import Result

RIVER = {"river 3 models, predict+learn in memory": 25_000.0}


def result(system: str, ev_s: float) -> Result:
    return Result(name=e2e.NAMES[system], scored=1, throughput=ev_s)


def test_docstring_examples():
    outcome = doctest.testmod(e2e)
    assert outcome.failed == 0 and outcome.attempted >= 3


def test_own_path_keeps_other_overrides_and_drops_the_models():
    overrides = e2e.config_overrides(["worker.fetch_wait=0.005", "models.threshold=0.3"])
    own = e2e.eddy_config("eddy-own", overrides)
    assert own["worker"] == {"fetch_wait": 0.005}
    assert own["models"] == {"threshold": 0.3, **e2e.MODEL_FREE["models"]}
    assert e2e.eddy_config("eddy", overrides) is overrides


def test_budget_splits_eddy_in_its_own_path_and_the_models():
    line = e2e.budget([result("eddy", 4_000.0), result("eddy-own", 8_000.0)], RIVER)
    assert line is not None
    assert "Eddy 250 µs = its own path 125 + the models 125" in line
    assert "River's loop alone: 40" in line and "20,000 ev/s allows 50" in line


def test_budget_needs_every_figure():
    assert e2e.budget([result("eddy", 4_000.0)], RIVER) is None
    assert e2e.budget([result("eddy", 4_000.0), result("eddy-own", 8_000.0)], {}) is None
    assert e2e.budget([result("eddy", math.nan), result("eddy-own", 8_000.0)], RIVER) is None
    assert e2e.budget([result("eddy", 4_000.0), result("eddy-own", 8_000.0)],
                      {"river 3 models, predict+learn in memory": math.nan}) is None
