"""Peer (a): a naive Faust agent, one event at a time (per-event Redis calls, `predict_proba_one`).

    python -m benchmarks.peers.faust_peer CONFIG KAFKA REDIS HOME

Consumes `<p>.events` and `<p>.labels` with Faust's per-event stream, uses `NaivePipeline` for
features and models, awaits one Redis pipeline and one SET per event, and sends three score
records per event through Faust's producer.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import faust
import redis.asyncio as aredis

from benchmarks.peers.pipeline import NaivePipeline
from streams.config import load_config
from streams.wiring import Codecs, schema_registry


def now_ms() -> int:
    return int(time.time() * 1000)


def build(config_path: str, kafka: str, redis_url: str, home: str) -> faust.App:
    cfg = load_config(Path(config_path))
    codecs = Codecs.build(cfg, schema_registry(None, Path(home)))
    pipe = NaivePipeline(cfg, codecs, f"{cfg.pipeline}-faust-peer")
    r = aredis.Redis.from_url(redis_url)
    app = faust.App(f"faust-peer-{cfg.pipeline}", broker=f"kafka://{kafka}", store="memory://",
                    datadir=str(Path(home) / "faust-peer"),
                    key_serializer="raw", value_serializer="raw", topic_partitions=cfg.partitions,
                    web_enabled=False, consumer_auto_offset_reset="earliest",
                    broker_session_timeout=6.0, broker_heartbeat_interval=1.0)
    t = cfg.topics
    events_t = app.topic(t.events, key_type=bytes, value_type=bytes)
    labels_t = app.topic(t.labels, key_type=bytes, value_type=bytes)
    scores_t = app.topic(t.scores, key_type=bytes, value_type=bytes)
    shadow_t = app.topic(t.shadow_scores, key_type=bytes, value_type=bytes)

    @app.agent(events_t, name="score")
    async def score(stream: faust.StreamT) -> None:
        async for ev in stream.events():
            received = now_ms()
            rec = pipe.decode(ev.message.value)
            p = r.pipeline(transaction=False)
            for cmd in pipe.commands(rec):
                p.execute_command(*cmd)
            x = pipe.features_from(rec, await p.execute())
            values, snap = pipe.score(rec, x, now_ms(), received)
            await r.set(pipe.snapshot_key(rec["event_id"]), snap, px=pipe.ttl)
            key = ev.message.key
            await scores_t.send(key=key, value=values[0])
            for v in values[1:]:
                await shadow_t.send(key=key, value=v)

    @app.agent(labels_t, name="learn")
    async def learn(stream: faust.StreamT) -> None:
        async for value in stream:
            lab = codecs.codec.decode(value)
            pipe.learn(lab, await r.get(pipe.snapshot_key(lab["event_id"])))

    return app


def main() -> None:
    config_path, kafka, redis_url, home = sys.argv[1:5]
    app = build(config_path, kafka, redis_url, home)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
