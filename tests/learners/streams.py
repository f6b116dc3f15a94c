"""Small deterministic streams, one per task, shared by the learners tests."""

from __future__ import annotations

import random

TASK_LABELS = {"binary", "multiclass", "regression", "anomaly", "recommendation"}


def make_stream(task: str, n: int, seed: int = 0) -> list[tuple[dict, float]]:
    """``n`` pairs ``(x, label)``; labels are doubles, as on the labels topic."""
    rng = random.Random(seed)
    out: list[tuple[dict, float]] = []
    for i in range(n):
        a, b, c = rng.gauss(0, 1), rng.gauss(0, 1), rng.uniform(0, 10)
        if task == "binary":
            out.append(({"a": a, "b": b, "c": c}, 1.0 if a + 0.5 * b + rng.gauss(0, 0.3) > 0 else 0.0))
        elif task == "multiclass":
            label = 0.0 if a < -0.4 else (1.0 if a < 0.4 else 2.0)
            out.append(({"a": a, "b": b, "c": c}, label))
        elif task == "regression":
            out.append(({"a": a, "b": b, "c": c}, 2.0 * a - b + 0.1 * c + rng.gauss(0, 0.1)))
        elif task == "anomaly":
            weird = rng.random() < 0.05
            x = {"a": rng.uniform(0.8, 1.0) if weird else rng.uniform(0, 0.5), "b": rng.uniform(0, 1)}
            out.append((x, 1.0 if weird else 0.0))
        elif task == "recommendation":
            user, item = rng.randrange(8), rng.randrange(12)
            x = {"user": f"u{user}", "item": f"i{item}", "hour": float(i % 24)}
            out.append((x, 1.0 if (user + item) % 3 == 0 else 0.0))
        else:
            raise ValueError(task)
    return out
