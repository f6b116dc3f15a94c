"""Redis key names of a pipeline: every key of pipeline `p` starts with ``eddy:{p}:``.

The braces are a Redis Cluster hash tag: only ``p`` is hashed, so all of a pipeline's keys (its
feature states, seen ids, snapshots, registry, counters, heartbeats, epoch marker) share one hash
slot. The commit and registry scripts touch many keys in one call, which a cluster allows only
within one slot. On a standalone server the braces are just characters. A replay run has a slot
of its own (``eddy:{p:replay:<run>}:``).

>>> namespace("fraud"), namespace("fraud", run_id="r1", replay=True)
('{fraud}', '{fraud:replay:r1}')
>>> key("fraud", "counters")
'eddy:{fraud}:counters'
>>> pipeline_of(b"eddy:{fraud}:counters")
'fraud'
"""

from __future__ import annotations


def namespace(pipeline: str, run_id: str | None = None, replay: bool = False) -> str:
    """The hash-tagged namespace of a live pipeline, or of one replay run of it."""
    return f"{{{pipeline}:replay:{run_id}}}" if replay else f"{{{pipeline}}}"


def key(pipeline: str, *parts: str) -> str:
    """``eddy:{pipeline}:part:part...`` (a live pipeline's key)."""
    return ":".join(("eddy", namespace(pipeline), *parts))


def pipeline_of(redis_key: bytes | str) -> str | None:
    """The pipeline a key ``eddy:{p}:...`` belongs to (None for other keys)."""
    k = redis_key.decode() if isinstance(redis_key, bytes) else redis_key
    if not k.startswith("eddy:{") or "}:" not in k:
        return None
    return k[len("eddy:{"):k.index("}:")]


def sink_database_key(pipeline: str) -> str:
    """Where a sink worker records its ClickHouse database (`sink.database`), for `eddy status`,
    which knows pipelines from Redis, not from their configs.

    >>> sink_database_key("fraud")
    'eddy:{fraud}:sink_database'
    """
    return key(pipeline, "sink_database")


__all__ = ["key", "namespace", "pipeline_of", "sink_database_key"]
