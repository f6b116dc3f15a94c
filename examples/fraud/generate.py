"""Seeded generator of card transactions with delayed fraud labels.

    python examples/fraud/generate.py --events 20000 --seed 7 --out examples/fraud/data

(`--start 2026-01-02` starts the payments on another day; default 2026-01-01T00:00:00Z) writes `events.jsonl` (time-ordered payments) and `labels.jsonl` ({event_id, label, ts} with ts =
payment ts + a delay). Fraud comes in bursts: a compromised card makes several large online
payments at a few risky merchants within minutes — the pattern the windowed features see.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np

from streams.harness import write_jsonl

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
COUNTRIES = ["FR", "DE", "ES", "IT", "NL"]
CHANNELS = ["pos", "online", "atm"]


def generate(n_events: int = 20_000, seed: int = 7, n_cards: int = 2_000, n_merchants: int = 300,
             fraud_rate: float = 0.03, mean_gap_ms: float = 150.0, median_delay_ms: float = 120_000.0,
             start_ms: int = START_MS) -> tuple[list[dict], list[dict]]:
    """Return (events, labels), both sorted by ts, the first payment just after `start_ms`.
    Same arguments -> same output."""
    rng = np.random.default_rng(seed)
    card_country = rng.choice(COUNTRIES, size=n_cards, p=[0.35, 0.25, 0.15, 0.15, 0.10])
    card_scale = rng.lognormal(3.3, 0.5, size=n_cards)  # typical spend per card
    risky = rng.choice(n_merchants, size=max(3, n_merchants // 30), replace=False)
    events: list[dict] = []
    labels: list[dict] = []
    t = start_ms
    burst_left: dict[int, int] = {}
    i = 0
    while len(events) < n_events:
        t += int(rng.exponential(mean_gap_ms)) + 1
        if burst_left and rng.random() < 0.35:
            card = int(rng.choice(list(burst_left)))
            burst_left[card] -= 1
            if burst_left[card] == 0:
                del burst_left[card]
            fraud = True
            merchant = int(rng.choice(risky))
            amount = float(round(card_scale[card] * rng.uniform(4.0, 12.0), 2))
            channel = "online" if rng.random() < 0.85 else "atm"
        else:
            card = int(rng.integers(n_cards))
            if rng.random() < fraud_rate / 6:
                burst_left[card] = int(rng.integers(3, 9))
            fraud = False
            merchant = int(rng.integers(n_merchants))
            amount = float(round(card_scale[card] * rng.lognormal(0.0, 0.6), 2))
            channel = str(rng.choice(CHANNELS, p=[0.6, 0.3, 0.1]))
        event_id = f"tx-{seed}-{i:07d}"
        i += 1
        events.append({
            "event_id": event_id, "ts": t, "card_id": f"c{card:05d}", "merchant_id": f"m{merchant:04d}",
            "amount": amount, "country": str(card_country[card]), "channel": channel,
        })
        delay = int(rng.lognormal(np.log(median_delay_ms), 0.8))
        labels.append({"event_id": event_id, "label": 1.0 if fraud else 0.0, "ts": t + delay})
    labels.sort(key=lambda r: (r["ts"], r["event_id"]))
    return events, labels


def start_time(text: str) -> int:
    """ms since the epoch, or an ISO-8601 date / date-time (UTC unless it names a zone), as ms.

    >>> start_time("2026-01-02"), start_time("1767225600000")
    (1767312000000, 1767225600000)
    """
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither ms since the epoch nor an ISO-8601 date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", type=start_time, default=START_MS,
                    help="time of the first payment: ISO-8601 (UTC unless zoned) or ms (default 2026-01-01)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    events, labels = generate(args.events, args.seed, start_ms=args.start)
    write_jsonl(args.out / "events.jsonl", events)
    write_jsonl(args.out / "labels.jsonl", labels)
    n_fraud = sum(r["label"] for r in labels)
    print(f"wrote {len(events)} events ({int(n_fraud)} fraudulent) and {len(labels)} labels to {args.out}")


if __name__ == "__main__":
    main()
