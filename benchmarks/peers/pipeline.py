"""The fraud pipeline written the way a user would without Eddy: one event at a time.

Same data, same 8 features (6 windowed on card and merchant, amount, amount / card mean), same
three River models (scaled logistic regression champion, Hoeffding tree challenger, prior
baseline), same Avro score records on the same topics. Per event: Avro decode, one pipelined
Redis round trip that updates and reads the entity's bucket hashes, `predict_proba_one` for each
model, three score records encoded, one Redis SET for the served-feature snapshot. Per label:
one Redis GET of the snapshot, `learn_one` for each model.

The Redis commands are the same for the sync (Quix Streams) and async (Faust) peers: `commands`
lists them, `features_from` turns the replies into the feature dict.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

from learners import ModelSet
from streams.config import PipelineConfig
from streams.wiring import Codecs

MIN1 = 60_000
MIN5 = 300_000


class NaivePipeline:
    """Per-event features in Redis bucket hashes + River `predict_proba_one` / `learn_one`."""

    def __init__(self, config: PipelineConfig, codecs: Codecs, run_id: str) -> None:
        self.config = config
        self.codecs = codecs
        self.reader = codecs.event_schema
        self.run_id = run_id
        ms = ModelSet(config.models, seed=config.models.seed)
        self.models = ms.models
        self.roles = ms.roles
        self.p = f"naive:{config.pipeline}"
        self.ttl = int(config.labels.snapshot_ttl)

    # -- features -----------------------------------------------------------------------
    def commands(self, ev: dict) -> list[tuple]:
        """Redis commands (name, *args) for one event: updates, then the reads the features need."""
        t, card, merch, amount = ev["ts"], ev["card_id"], ev["merchant_id"], float(ev["amount"])
        b1, b5 = t // MIN1, t // MIN5
        ck, mk = f"{self.p}:card:{card}", f"{self.p}:merchant:{merch}"
        sets = [f"{self.p}:mcards:{merch}:{b}" for b in range(b5 - 11, b5 + 1)]
        return [
            ("HINCRBY", ck, f"c{b1}", 1),
            ("HINCRBYFLOAT", ck, f"s{b5}", amount),
            ("HINCRBY", ck, f"n{b5}", 1),
            ("HGETALL", ck),
            ("HSET", ck, "last", t),
            ("EXPIRE", ck, 2 * 86400),
            ("HINCRBY", mk, f"c{b1}", 1),
            ("HGETALL", mk),
            ("EXPIRE", mk, 2 * 86400),
            ("SADD", sets[-1], card),
            ("EXPIRE", sets[-1], 7200),
            ("SUNION", *sets),
        ]

    def features_from(self, ev: dict, replies: list[Any]) -> dict[str, float]:
        t, amount = ev["ts"], float(ev["amount"])
        b1, b5 = t // MIN1, t // MIN5
        card = {k.decode(): v for k, v in replies[3].items()}
        merch = {k.decode(): v for k, v in replies[7].items()}
        c10 = sum(int(card.get(f"c{b}", 0)) for b in range(b1 - 9, b1 + 1))
        s1h = sum(float(card.get(f"s{b}", 0)) for b in range(b5 - 11, b5 + 1))
        n1h = sum(int(card.get(f"n{b}", 0)) for b in range(b5 - 11, b5 + 1))
        mean = s1h / n1h if n1h else 0.0
        last = card.get("last")
        since = (t - int(last)) / 1000.0 if last is not None else 0.0
        m10 = sum(int(merch.get(f"c{b}", 0)) for b in range(b1 - 9, b1 + 1))
        return {
            "card_txn_10m": float(c10), "card_amount_sum_1h": s1h, "card_amount_mean_1h": mean,
            "card_since_prev_s": since, "merchant_txn_10m": float(m10), "merchant_cards_1h": float(len(replies[11])),
            "amount": amount, "amount_vs_card_mean": amount / mean if mean else 0.0,
        }

    # -- scoring ------------------------------------------------------------------------
    def decode(self, value: bytes) -> dict:
        return self.codecs.codec.decode(value, self.reader)

    def score(self, ev: dict, x: dict[str, float], now_ms: int, received_ms: int) -> tuple[list[bytes], bytes]:
        """Score records (champion first) and the pickled snapshot of one event."""
        enc = self.codecs.encode
        feats = {k: (v if math.isfinite(v) else 0.0) for k, v in x.items()}
        segments = {s: str(ev.get(s, "")) for s in self.config.segments}
        out = []
        preds = {}
        for name, model in self.models.items():
            p = float(model.predict_proba_one(x).get(True, 0.0))
            preds[name] = p
            role = self.roles[name]
            rec = {"event_id": ev["event_id"], "key": ev["card_id"], "event_ts": ev["ts"], "model": name,
                   "model_version": 0, "role": role, "shadow": role != "champion", "prediction": p,
                   "predicted_label": None, "served_ts": now_ms, "latency_ms": float(now_ms - received_ms),
                   "run_id": self.run_id, "features": feats, "segments": segments, "late": False, "degraded": False}
            out.append(enc("scores" if role == "champion" else "shadow_scores", rec, trusted=True))
        return out, pickle.dumps((x, preds), protocol=5)

    def snapshot_key(self, event_id: str) -> str:
        return f"{self.p}:snap:{event_id}"

    def learn(self, label: dict, snapshot: bytes | None) -> bool:
        if snapshot is None:
            return False
        x, _preds = pickle.loads(snapshot)
        y = bool(label["label"] != 0)
        for model in self.models.values():
            model.learn_one(x, y)
        return True


__all__ = ["NaivePipeline"]
