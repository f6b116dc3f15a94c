"""Trivial baselines that River lacks: a constant anomaly scorer and an item-popularity ranker.

Every pipeline gets a baseline (see `learners.catalog.baseline_for`): a model that any real model
must beat. These two are tiny, deterministic and picklable.

>>> ranker = ItemMeanRanker()
>>> ranker.learn_one(user="u1", item="a", y=1.0); ranker.learn_one(user="u2", item="b", y=0.0)
>>> ranker.predict_one(user="u3", item="a"), ranker.predict_one(user="u3", item="zzz")
(0.75, 0.5)
"""

from __future__ import annotations

from river import base, reco


class ConstantScorer(base.AnomalyDetector):
    """An anomaly detector that scores everything `value` (ROC AUC 0.5 by construction)."""

    def __init__(self, value: float = 0.0):
        self.value = value

    def learn_one(self, x: dict) -> None:
        """Nothing to learn."""

    def score_one(self, x: dict) -> float:
        """Return the constant score."""
        return float(self.value)


class ItemMeanRanker(reco.base.Ranker):
    """Popularity baseline: an item's mean reward, shrunk towards the global mean.

    ``score = (sum_item + prior * global_mean) / (n_item + prior)``; an unseen item scores the
    global mean (0.0 before any learning). Predicting never changes state.
    """

    def __init__(self, prior: float = 1.0):
        super().__init__(seed=None)
        self.prior = prior
        self._sum = 0.0
        self._n = 0
        self._item_sum: dict = {}
        self._item_n: dict = {}

    def learn_one(self, user, item, y, x=None) -> None:
        """Count one reward for `item`."""
        y = float(y)
        self._sum += y
        self._n += 1
        self._item_sum[item] = self._item_sum.get(item, 0.0) + y
        self._item_n[item] = self._item_n.get(item, 0) + 1

    def predict_one(self, user, item, x=None) -> float:
        """Smoothed mean reward of `item`."""
        global_mean = self._sum / self._n if self._n else 0.0
        n_item = self._item_n.get(item, 0)
        s_item = self._item_sum.get(item, 0.0)
        return (s_item + self.prior * global_mean) / (n_item + self.prior)
