"""Declarative feature specifications (pydantic, frozen, unknown keys rejected).

A `FeatureSet` holds windowed aggregations per entity key, passthrough fields and derived
features. Its `names` fix the output column order: windows, passthrough, derived.

>>> fs = FeatureSet(
...     windows=[{"name": "card_n_10m", "entity": "card_id", "agg": "count",
...               "window": "10m", "bucket": "1m"}],
...     passthrough=[{"name": "amount", "field": "amount", "default": 0.0}],
...     derived=[{"name": "amt_x_n", "op": "product", "left": "amount", "right": "card_n_10m"}],
... )
>>> fs.names
['card_n_10m', 'amount', 'amt_x_n']
>>> fs.windows[0].window, fs.windows[0].n_buckets
(600000, 10)
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from eddy.durations import format_duration
from features.durations import parse_duration
from features.exceptions import FeatureSpecError

Duration = Annotated[int, BeforeValidator(parse_duration)]
"""A duration in ms, parsed from "500ms" / "10s" / "10m" / "1h" / "2d" or an int of ms."""

Agg = Literal["count", "sum", "mean", "min", "max", "std", "last", "since_prev", "distinct"]
DerivedOp = Literal["ratio", "diff", "sum", "product"]

AGGS: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "std", "last", "since_prev", "distinct")
FIELDLESS_AGGS = frozenset({"count", "since_prev"})
NUMERIC_AGGS = frozenset({"sum", "mean", "min", "max", "std", "last"})

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: Most buckets a window feature's ring may hold (W/H + L): the kernel reads a window bucket by
#: bucket and clears a key's ring per batch, so 7d of 1m buckets (10,080) is fine, 30d of 1s
#: (2.6 million) is not.
MAX_RING_BUCKETS = 100_000

log = logging.getLogger("eddy.features")


class WindowFeature(BaseModel):
    """An aggregation of `field` over the events of one `entity` key in a sliding window.

    The window is `window` ms wide, made of buckets of `bucket` ms (`bucket` divides `window`).
    """

    model_config = _FROZEN

    name: str = Field(min_length=1)
    entity: str = Field(min_length=1, description=(
        "Event field whose value is the key the window is kept per; no ':' (it separates the parts of "
        "a Redis state key)."))
    agg: Agg
    field: str | None = None
    window: Duration
    bucket: Duration

    @model_validator(mode="after")
    def _check(self) -> WindowFeature:
        if ":" in self.entity:
            # the state key is eddy:{ns}:st:{entity}:{key}: entity 'a' with key 'b:c' would share
            # the key of entity 'a:b' with key 'c'
            raise FeatureSpecError(
                f"feature {self.name!r}: entity {self.entity!r} contains ':', which separates the parts "
                "of a Redis state key (entity 'a' with key 'b:c' would share a key with entity 'a:b' "
                "with key 'c'); rename the entity field"
            )
        if self.bucket <= 0 or self.window <= 0:
            raise FeatureSpecError(
                f"feature {self.name!r}: window ({self.window} ms) and bucket ({self.bucket} ms) "
                "must be > 0"
            )
        if self.window % self.bucket != 0:
            raise FeatureSpecError(
                f"feature {self.name!r}: bucket {self.bucket} ms does not divide window "
                f"{self.window} ms; pick a bucket such that window / bucket is an integer"
            )
        if self.agg not in FIELDLESS_AGGS and not self.field:
            raise FeatureSpecError(
                f"feature {self.name!r}: agg {self.agg!r} needs a value `field` "
                "(only count and since_prev work without one)"
            )
        return self

    @property
    def n_buckets(self) -> int:
        """Number of buckets in the window (W / H)."""
        return self.window // self.bucket

    def lateness_buckets(self, allowed_lateness: int) -> int:
        """L = ceil(allowed_lateness / bucket): how many buckets behind the newest are accepted."""
        return -(-allowed_lateness // self.bucket)


class PassthroughFeature(BaseModel):
    """A raw event field copied as a float (bool -> 1.0/0.0); `default` when missing or None.

    `exact`: the value is an id (a recommendation's user and item): an integer a float64 cannot
    hold exactly (beyond 2**53) is refused, never merged with its neighbours."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    field: str = Field(min_length=1)
    default: float | None = None
    exact: bool = False


class DerivedFeature(BaseModel):
    """`left op right` over earlier feature names; ratio with a zero denominator gives 0.0."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    op: DerivedOp
    left: str = Field(min_length=1)
    right: str = Field(min_length=1)


class FeatureSet(BaseModel):
    """Every feature of a pipeline plus lateness, state expiry and dedup horizon (all in ms)."""

    model_config = _FROZEN

    windows: list[WindowFeature] = Field(default_factory=list)
    passthrough: list[PassthroughFeature] = Field(default_factory=list)
    derived: list[DerivedFeature] = Field(default_factory=list)
    allowed_lateness: Duration = Field(default=0, description=(
        "How far behind a key's newest bucket an event may be and still update its bucket (ms); older "
        "events are scored but never change state."))
    state_ttl: Duration = Field(default=7 * 86_400_000, description=(
        "A key's state expires 1 to 1.125 x this long after its last write (ms of server time). At least "
        "every window + `allowed_lateness` (refused otherwise: an idle key would lose events still inside "
        "its window)."))
    dedup_horizon: Duration = Field(default=86_400_000, description=(
        "An applied event id is remembered 1 to 2 x this long (ms); a redelivery later than that counts "
        "again. Shorter than the longest window: accepted with a warning."))

    @model_validator(mode="after")
    def _check(self) -> FeatureSet:
        seen: set[str] = set()
        for name in self.names:
            if name in seen:
                raise FeatureSpecError(
                    f"feature name {name!r} is used twice; every feature name must be unique"
                )
            seen.add(name)
        known = {f.name for f in self.windows} | {f.name for f in self.passthrough}
        for feat in self.derived:
            for ref in (feat.left, feat.right):
                if ref not in known:
                    raise FeatureSpecError(
                        f"derived feature {feat.name!r} refers to {ref!r}, which is not a window, "
                        "passthrough or earlier derived feature; list it before or fix the name"
                    )
            known.add(feat.name)
        if self.state_ttl <= 0 or self.dedup_horizon <= 0:
            raise FeatureSpecError("state_ttl and dedup_horizon must be > 0 ms")
        for feat in self.windows:
            ring = feat.n_buckets + feat.lateness_buckets(self.allowed_lateness)
            if ring > MAX_RING_BUCKETS:
                raise FeatureSpecError(
                    f"feature {feat.name!r}: window / bucket + lateness buckets = {ring:,} buckets, more than "
                    f"{MAX_RING_BUCKETS:,} (each event aggregates its window bucket by bucket); pick a coarser "
                    "bucket (e.g. 1m for a 7d window) or a shorter allowed_lateness"
                )
            # state expires state_ttl (server time) after a key's last write: a key idle longer
            # would lose events still inside its window
            if self.state_ttl < feat.window + self.allowed_lateness:
                raise FeatureSpecError(
                    f"feature {feat.name!r}: state_ttl {format_duration(self.state_ttl)} is shorter than its "
                    f"window {format_duration(feat.window)} plus allowed_lateness "
                    f"{format_duration(self.allowed_lateness)}: a key idle for longer than state_ttl would "
                    "lose the events still inside its window; raise state_ttl to at least "
                    f"{format_duration(feat.window + self.allowed_lateness)} (window + allowed_lateness) "
                    "or shorten the window"
                )
        longest = max(self.windows, key=lambda f: f.window, default=None)
        if longest is not None and self.dedup_horizon < longest.window:
            log.warning(
                "dedup_horizon %s is shorter than the window %s of feature %r: an event redelivered more "
                "than dedup_horizon after it was applied counts twice in that window (ids are remembered "
                "1-2 x dedup_horizon); raise dedup_horizon to %s if such late redeliveries happen",
                format_duration(self.dedup_horizon), format_duration(longest.window), longest.name,
                format_duration(longest.window),
            )
        return self

    @property
    def names(self) -> list[str]:
        """Output column order: windows, then passthrough, then derived (config order)."""
        return (
            [f.name for f in self.windows]
            + [f.name for f in self.passthrough]
            + [f.name for f in self.derived]
        )

    @property
    def entities(self) -> list[str]:
        """Entity fields used by window features, in order of first appearance."""
        return list(dict.fromkeys(f.entity for f in self.windows))

    def windows_of(self, entity: str) -> list[WindowFeature]:
        """Window features keyed by `entity`, in config order."""
        return [f for f in self.windows if f.entity == entity]
