"""Peer (b): the same per-event pipeline in Quix Streams (confluent-kafka underneath).

    python -m benchmarks.peers.quix_peer CONFIG KAFKA REDIS HOME

A `StreamingDataFrame` over `<p>.events` applies `NaivePipeline` to each event (one pipelined
Redis round trip, `predict_proba_one` per model, one SET for the snapshot), stamps the output
with the wall clock (Quix would otherwise copy the input timestamp) and branches the champion
record to `<p>.scores` and the other two to `<p>.shadow-scores`. A second dataframe over
`<p>.labels` learns from each label.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import redis
from quixstreams import Application

from benchmarks.peers.pipeline import NaivePipeline
from streams.config import load_config
from streams.wiring import Codecs, schema_registry


def now_ms() -> int:
    return int(time.time() * 1000)


def build(config_path: str, kafka: str, redis_url: str, home: str) -> Application:
    cfg = load_config(Path(config_path))
    codecs = Codecs.build(cfg, schema_registry(None, Path(home)))
    pipe = NaivePipeline(cfg, codecs, f"{cfg.pipeline}-quix-peer")
    r = redis.Redis.from_url(redis_url)
    app = Application(broker_address=kafka, consumer_group=f"quix-peer-{cfg.pipeline}", auto_offset_reset="earliest",
                      loglevel="WARNING", use_changelog_topics=False, commit_interval=1.0,
                      state_dir=str(Path(home) / "quix-state"))
    raw = {"key_deserializer": "bytes", "value_deserializer": "bytes", "key_serializer": "bytes",
           "value_serializer": "bytes"}
    t = cfg.topics
    events_t = app.topic(t.events, **raw)
    labels_t = app.topic(t.labels, **raw)
    scores_t = app.topic(t.scores, **raw)
    shadow_t = app.topic(t.shadow_scores, **raw)

    def score(value: bytes) -> list[bytes]:
        received = now_ms()
        rec = pipe.decode(value)
        p = r.pipeline(transaction=False)
        for cmd in pipe.commands(rec):
            p.execute_command(*cmd)
        x = pipe.features_from(rec, p.execute())
        values, snap = pipe.score(rec, x, now_ms(), received)
        r.set(pipe.snapshot_key(rec["event_id"]), snap, px=pipe.ttl)
        return values

    def learn(value: bytes) -> None:
        lab = codecs.codec.decode(value)
        pipe.learn(lab, r.get(pipe.snapshot_key(lab["event_id"])))

    sdf = app.dataframe(events_t).apply(score)
    sdf = sdf.set_timestamp(lambda value, key, ts, headers: now_ms())
    sdf.apply(lambda vs: vs[0]).to_topic(scores_t)
    sdf.apply(lambda vs: vs[1:], expand=True).to_topic(shadow_t)
    app.dataframe(labels_t).update(learn)
    return app


def main() -> None:
    config_path, kafka, redis_url, home = sys.argv[1:5]
    build(config_path, kafka, redis_url, home).run()


if __name__ == "__main__":
    main()
