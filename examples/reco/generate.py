"""Seeded generator of recommendation impressions with delayed click labels.

    python examples/reco/generate.py --events 20000 --seed 7 --out examples/reco/data

writes `events.jsonl` (time-ordered impressions: user, item, slot position, device, hour) and
`labels.jsonl` ({event_id, label, ts}: 1.0 for a click, 0.0 for none, ts = impression ts + a
delay of seconds). Clicks follow a hidden low-rank taste model: each user and item has a latent
vector, items have a popularity bias, and lower slots are clicked less — so a factorization
model that learns the tastes ranks items better than popularity alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from streams.harness import write_jsonl

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEVICES = ["mobile", "desktop", "tv"]


def generate(n_events: int = 20_000, seed: int = 7, n_users: int = 100, n_items: int = 60, n_factors: int = 3,
             taste: float = 3.0, mean_gap_ms: float = 40.0, median_delay_ms: float = 4_000.0) -> tuple[list[dict], list[dict]]:
    """Return (events, labels), both sorted by ts. Same arguments -> same output.

    >>> events, labels = generate(5, seed=1)
    >>> sorted(events[0]) == sorted(["event_id", "ts", "user_key", "item_key", "user_id", "item_id", "position", "device", "hour"])
    True
    >>> {lab["label"] for lab in labels} <= {0.0, 1.0}
    True
    """
    rng = np.random.default_rng(seed)
    users = rng.normal(0.0, 1.0, size=(n_users, n_factors)) / np.sqrt(n_factors)
    items = rng.normal(0.0, 1.0, size=(n_items, n_factors)) / np.sqrt(n_factors)
    popularity = rng.normal(0.0, 0.5, size=n_items)
    activity = rng.pareto(1.5, size=n_users) + 1.0  # a few heavy users, many light ones
    activity /= activity.sum()
    device_of = rng.choice(len(DEVICES), size=n_users, p=[0.6, 0.3, 0.1])
    events: list[dict] = []
    labels: list[dict] = []
    t = START_MS
    for i in range(n_events):
        t += int(rng.exponential(mean_gap_ms)) + 1
        u = int(rng.choice(n_users, p=activity))
        it = int(rng.integers(n_items))
        position = int(rng.integers(1, 6))
        logit = -1.2 + popularity[it] + taste * float(users[u] @ items[it]) - 0.25 * (position - 1)
        click = rng.random() < 1.0 / (1.0 + np.exp(-logit))
        event_id = f"imp-{seed}-{i:07d}"
        hour = int((t - START_MS) // 3_600_000 % 24)
        events.append({"event_id": event_id, "ts": t, "user_key": f"u{u:05d}", "item_key": f"i{it:04d}",
                       "user_id": u, "item_id": it, "position": position, "device": DEVICES[device_of[u]], "hour": hour})
        delay = int(rng.lognormal(np.log(median_delay_ms), 0.5))
        labels.append({"event_id": event_id, "label": 1.0 if click else 0.0, "ts": t + delay})
    labels.sort(key=lambda r: (r["ts"], r["event_id"]))
    return events, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    events, labels = generate(args.events, args.seed)
    write_jsonl(args.out / "events.jsonl", events)
    write_jsonl(args.out / "labels.jsonl", labels)
    n_clicks = sum(r["label"] for r in labels)
    print(f"wrote {len(events)} impressions ({int(n_clicks)} clicks) and {len(labels)} labels to {args.out}")


if __name__ == "__main__":
    main()
