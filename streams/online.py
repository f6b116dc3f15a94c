"""Online feature lookup for other services: a key's current feature values from Redis.

The values are computed by the same engine and kernel as the scorer, read-only:

    from streams.online import OnlineFeatures
    online = OnlineFeatures.from_config("examples/fraud/config.yaml", "redis://127.0.0.1:6379/0")
    online.get("card_id", "c00042", now_ms)            # the key's windows as of now
    online.get("card_id", "c00042", now_ms, event=ev)  # exactly what scoring `ev` now would serve
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from features import FeatureEngine, RedisStateStore
from streams.config import PipelineConfig, load_config
from streams.wiring import namespace, redis_client


class OnlineFeatures:
    """Read-only access to a live pipeline's feature state."""

    def __init__(self, config: PipelineConfig, redis_url: str) -> None:
        self.config = config
        store = RedisStateStore(redis_client(redis_url, config.pipeline), namespace(config))
        self.engine = FeatureEngine(config.features, store, config.event.time_field, config.event.id_field)

    @classmethod
    def from_config(cls, path: str | Path, redis_url: str) -> OnlineFeatures:
        return cls(load_config(path), redis_url)

    def get(self, entity: str, key: str, now_ms: int, event: Mapping | None = None) -> dict[str, float]:
        """Window features of `entity`=`key` as of `now_ms` (with `event`: its full served row)."""
        return self.engine.lookup(entity, key, now_ms, event)
