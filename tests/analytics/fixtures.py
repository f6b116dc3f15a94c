"""Helpers for the analytics tests: a chDB server subprocess and numpy reference metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np


class ServerProcess:
    """``python -m analytics.server`` on a folder; stop() and start() again on the same port."""

    def __init__(self, path: Path, port: int = 0, env: dict[str, str] | None = None) -> None:
        self.path = path
        self.port = port
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerProcess:
        port_file = self.path.parent / f"{self.path.name}.port"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "analytics.server", "--path", str(self.path),
             "--port", str(self.port), "--port-file", str(port_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout_s
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"server died: {self.proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        urllib.request.urlopen(self.url + "/ping", timeout=5).read()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x))
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def roc_auc(p: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties."""
    r = average_ranks(p)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))


def psi(ref: np.ndarray, win: np.ndarray, eps: float = 1e-4) -> float:
    """PSI as documented in drift_psi.sql: reference deciles, right-closed bins, epsilon floor."""
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10, method="linear"))
    nb = len(edges) + 1
    cr = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=nb)
    cw = np.bincount(np.searchsorted(edges, win, side="left"), minlength=nb)
    pr = np.maximum(cr / len(ref), eps)
    pw = np.maximum(cw / len(win), eps)
    return float(np.sum((pw - pr) * np.log(pw / pr)))


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic from the empirical CDFs."""
    grid = np.unique(np.concatenate([a, b]))
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))
