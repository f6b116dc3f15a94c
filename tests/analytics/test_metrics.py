"""SQL metrics against independent numpy computations, and the planted drift and bias."""

import numpy as np
import pytest

from analytics import metrics as M
from analytics.exceptions import ConfigError
from analytics.queries import query_names, run_query

from . import fixtures as ref

TOL = 1e-6


@pytest.fixture(scope="module")
def arrays(stream):
    """Per model: predictions and labels of labelled events; feature values by event time."""
    labels = {r["event_id"]: r for r in stream.labels}
    out = {}
    for model in ("champion", "challenger"):
        rows = [r for r in stream.predictions if r["model"] == model and r["event_id"] in labels]
        out[model] = {
            "p": np.array([r["prediction"] for r in rows]),
            "y": np.array([labels[r["event_id"]]["label"] for r in rows]),
            "ts": np.array([r["event_ts"] for r in rows]),
            "region": np.array([r["segments"]["region"] for r in rows]),
            "delay": np.array([labels[r["event_id"]]["label_ts"] - r["event_ts"] for r in rows]),
        }
    champ = [r for r in stream.predictions if r["model"] == "champion"]
    out["features"] = {name: np.array([r["features"][name] for r in champ])
                       for name in champ[0]["features"]}
    out["features_ts"] = np.array([r["event_ts"] for r in champ])
    return out


def test_auc_log_loss_and_rates_match_numpy(chdb_backend, stream_db, arrays):
    rows = {r["model"]: r for r in M.model_metrics(chdb_backend, stream_db, threshold=0.5)}
    for model in ("champion", "challenger"):
        p, y, r = arrays[model]["p"], arrays[model]["y"], rows[model]
        assert r["n"] == len(p)
        assert abs(r["roc_auc"] - ref.roc_auc(p, y)) < TOL
        assert abs(r["log_loss"] - ref.log_loss(p, y)) < TOL
        assert abs(r["accuracy"] - np.mean((p >= 0.5) == (y == 1))) < TOL
        assert abs(r["bias"] - (p.mean() - y.mean())) < TOL
        tp = np.sum((p >= 0.5) & (y == 1))
        assert abs(r["precision"] - tp / np.sum(p >= 0.5)) < TOL
        assert abs(r["recall"] - tp / np.sum(y == 1)) < TOL


def test_auc_with_ties_and_extreme_predictions(chdb_backend, fresh_db):
    rng = np.random.default_rng(3)
    p = np.round(rng.random(400), 1)          # heavy ties
    p[:5] = [0.0, 1.0, 0.0, 1.0, 1e-20]       # log loss clipping
    y = (rng.random(400) < p).astype(float)
    y[:5] = [1, 0, 0, 1, 1]
    from analytics.sink import Sink

    sink = Sink(chdb_backend, fresh_db)
    sink.add("predictions", [{
        "run_id": "r", "pipeline": "p", "model": "m", "model_version": 1, "role": "champion",
        "shadow": False, "event_id": f"e{i}", "key": "k", "event_ts": 1767225600000 + i,
        "served_ts": 1767225600000 + i, "latency_ms": 1.0, "prediction": float(p[i])}
        for i in range(400)])
    sink.add("labels", [{"pipeline": "p", "event_id": f"e{i}", "label": float(y[i]),
                         "label_ts": 1767225700000} for i in range(400)])
    sink.flush()
    (row,) = M.model_metrics(chdb_backend, fresh_db)
    assert abs(row["roc_auc"] - ref.roc_auc(p, y)) < TOL
    assert abs(row["log_loss"] - ref.log_loss(p, y)) < TOL
    assert abs(row["mae"] - np.mean(np.abs(p - y))) < TOL
    assert abs(row["rmse"] - np.sqrt(np.mean((p - y) ** 2))) < TOL


def test_class_accuracy_compares_the_predicted_class_with_the_labels(chdb_backend, fresh_db):
    """Multiclass: the label's class is the learner's text of it (2.0 -> '2', 2.5e-05 -> '2.5e-05',
    1e22 -> '10000000000000000000000', which ClickHouse's toString writes otherwise); no class is
    wrong; a task whose rows carry no predicted_label has no class accuracy."""
    from analytics.sink import Sink
    from learners.predict import normalize_label

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 300).astype(float)
    labels[:9] = [0.0, 2.5, -1.0, 2.5e-05, 1e22, 0.1, 1 / 3, -7.25e-300, 123456789.125]
    predicted = [normalize_label("multiclass", float(v)) for v in labels]
    wrong = rng.random(300) < 0.3
    wrong[1:9] = False
    predicted = [None if i % 50 == 0 else ("9" if w else c) for i, (w, c) in enumerate(zip(wrong, predicted))]
    base = {"run_id": "r", "pipeline": "p", "role": "champion", "shadow": False, "key": "k",
            "latency_ms": 1.0, "prediction": 0.5}
    sink = Sink(chdb_backend, fresh_db)
    sink.add("predictions", [
        {**base, "model": m, "model_version": 1, "event_id": f"e{i}", "event_ts": 1767225600000 + i,
         "served_ts": 1767225600000 + i, "predicted_label": predicted[i] if m == "multi" else None}
        for i in range(300) for m in ("multi", "binary")])
    sink.add("labels", [{"pipeline": "p", "event_id": f"e{i}", "label": float(labels[i]),
                         "label_ts": 1767225700000} for i in range(300)])
    sink.flush()
    rows = {r["model"]: r for r in M.model_metrics(chdb_backend, fresh_db)}
    expected = np.mean([p is not None and p == normalize_label("multiclass", float(v))
                        for p, v in zip(predicted, labels)])
    assert 0.5 < expected < 0.8
    assert abs(rows["multi"]["class_accuracy"] - expected) < TOL
    assert rows["binary"]["class_accuracy"] is None


def test_psi_and_ks_match_numpy(chdb_backend, stream_db, stream, arrays):
    w = stream.window_ms
    rows = M.drift(chdb_backend, stream_db, window_ms=w, ref_from_ms=stream.base_ms,
                   ref_to_ms=stream.base_ms + w)
    ts, feats = arrays["features_ts"], arrays["features"]
    in_ref = (ts >= stream.base_ms) & (ts < stream.base_ms + w)
    checked = 0
    for r in rows:
        if r["kind"] != "feature":
            continue
        in_win = (ts >= r["window_ms"]) & (ts < r["window_ms"] + w)
        a, b = feats[r["name"]][in_ref], feats[r["name"]][in_win]
        assert (r["n_ref"], r["n"]) == (len(a), len(b))
        assert abs(r["psi"] - ref.psi(a, b)) < TOL, r
        assert abs(r["ks"] - ref.ks(a, b)) < TOL, r
        checked += 1
    assert checked == 4 * 7  # 4 features x 7 later windows


def test_psi_on_discrete_values_with_empty_bins(chdb_backend, stream_db, stream, arrays):
    # f_count is Poisson: repeated deciles collapse into few edges and some bins are empty.
    w = stream.window_ms
    rows = [r for r in M.drift_psi(chdb_backend, stream_db, window_ms=w) if r["name"] == "f_count"]
    ts, x = arrays["features_ts"], arrays["features"]["f_count"]
    a = x[(ts >= stream.base_ms) & (ts < stream.base_ms + w)]
    for r in rows:
        b = x[(ts >= r["window_ms"]) & (ts < r["window_ms"] + w)]
        assert abs(r["psi"] - ref.psi(a, b)) < TOL


def test_drift_flags_the_drifted_feature_within_one_window(chdb_backend, stream_db, stream):
    rows = M.drift(chdb_backend, stream_db, window_ms=stream.window_ms)
    first = M.first_drift([r for r in rows if r["kind"] == "feature"])
    assert {name for _, name in first} == set(stream.drifted_features)
    for feature in stream.drifted_features:
        assert abs(first[("feature", feature)] - stream.drift_ms) <= stream.window_ms
    # the champion's predictions and the labels shift too (they depend on the drifted feature)
    assert ("prediction", "champion") in M.first_drift(rows)


def test_bias_query_ranks_the_biased_segment_worst(chdb_backend, stream_db, stream, arrays):
    seg, value = stream.biased_segment
    rows = M.segment_metrics(chdb_backend, stream_db, segments=[seg, "channel"])
    champ = [r for r in rows if r["model"] == "champion" and r["segment"] == seg]
    worst = min(champ, key=lambda r: r["rank_worst"])
    assert worst["segment_value"] == value
    assert worst["fpr_ratio_best"] > 2 and worst["selection_rate_diff_overall"] > 0.2
    # rates of one segment value against numpy
    a = arrays["champion"]
    mask = a["region"] == value
    p, y = a["p"][mask], a["y"][mask]
    assert worst["n"] == mask.sum()
    assert abs(worst["fpr"] - np.sum((p >= 0.5) & (y == 0)) / np.sum(y == 0)) < TOL
    assert abs(worst["roc_auc"] - ref.roc_auc(p, y)) < TOL
    overall_sel = np.mean(a["p"] >= 0.5)
    assert abs(worst["selection_rate_diff_overall"] - (np.mean(p >= 0.5) - overall_sel)) < TOL


def test_no_best_segment_value_below_min_count(chdb_backend, stream_db, stream):
    """With no value of `min_count` rows, every "best" (and each difference to it) is NULL; the
    selection rate's used to be 0, so its difference to the best was the rate itself."""
    seg, _value = stream.biased_segment
    rows = M.segment_metrics(chdb_backend, stream_db, segments=[seg], min_count=10**9)
    assert rows
    for r in rows:
        assert r["best_selection_rate"] is None and r["selection_rate_diff_best"] is None, r
        assert r["best_tpr"] is None and r["best_fpr"] is None and r["best_precision"] is None


def test_calibration_and_label_delays(chdb_backend, stream_db, arrays):
    a = arrays["champion"]
    bins = [r for r in M.calibration(chdb_backend, stream_db, n_bins=10) if r["model"] == "champion"]
    assert sum(r["n"] for r in bins) == len(a["p"])
    b3 = next(r for r in bins if r["bin"] == 3)
    mask = np.minimum(np.floor(a["p"] * 10), 9) == 3
    assert abs(b3["observed_rate"] - a["y"][mask].mean()) < TOL
    (d,) = M.label_delays(chdb_backend, stream_db)
    assert d["n"] == len(a["delay"])
    assert abs(d["p90_ms"] - np.quantile(a["delay"], 0.9)) < 1e-3
    assert d["max_ms"] == a["delay"].max()


def test_bucketed_metrics_and_time_filters(chdb_backend, stream_db, stream):
    w = stream.window_ms
    rows = M.model_metrics(chdb_backend, stream_db, bucket_ms=w)
    champ = [r for r in rows if r["model"] == "champion"]
    assert [r["bucket_ms"] for r in champ] == [stream.base_ms + i * w for i in range(8)]
    f = M.Filters(pipeline="demo", run_id="run-live", from_ms=stream.base_ms, to_ms=stream.base_ms + w)
    (one,) = [r for r in M.model_metrics(chdb_backend, stream_db, filters=f) if r["model"] == "champion"]
    assert one["n"] == champ[0]["n"]
    assert M.model_metrics(chdb_backend, stream_db, filters=M.Filters(run_id="nope")) == []


def test_queries_take_exactly_their_parameters(chdb_backend, stream_db):
    assert {"model_metrics", "segment_metrics", "drift_psi", "drift_ks", "calibration",
            "label_delays", "alerts", "model_events"} <= set(query_names())
    with pytest.raises(ConfigError, match="missing"):
        run_query(chdb_backend, "time_range", stream_db, {"pipeline": ""})
    with pytest.raises(ConfigError, match="unexpected"):
        run_query(chdb_backend, "time_range", stream_db, {"pipeline": "", "run_id": "", "x": 1})
    # hostile parameter values are data, never SQL
    assert run_query(chdb_backend, "time_range", stream_db,
                     {"pipeline": "x' OR 1=1 --", "run_id": ""})[0]["n"] == 0


def test_segments_and_calibration_per_time_bucket(chdb_backend, stream_db, stream):
    w = stream.window_ms
    rows = M.segment_metrics(chdb_backend, stream_db, segments=["region"], bucket_ms=w)
    champ = [r for r in rows if r["model"] == "champion"]
    assert len({r["bucket_ms"] for r in champ}) == 8
    total = {r["segment_value"]: r["n"] for r in M.segment_metrics(
        chdb_backend, stream_db, segments=["region"]) if r["model"] == "champion"}
    for value, n in total.items():
        assert sum(r["n"] for r in champ if r["segment_value"] == value) == n
    # the biased value is the worst in every bucket, not just overall
    assert {r["segment_value"] for r in champ if r["rank_worst"] == 1} == {stream.biased_segment[1]}
    cal = M.calibration(chdb_backend, stream_db, bucket_ms=w)
    assert len({r["bucket_ms"] for r in cal}) == 8


def test_run_ids_lists_each_run_once_first_served_first(chdb_backend, fresh_db):
    from analytics.sink import Sink

    sink = Sink(chdb_backend, fresh_db)
    sink.add("predictions", [{
        "run_id": run, "pipeline": pipe, "model": "m", "model_version": 1, "role": "champion", "shadow": False,
        "event_id": f"e{i}", "key": "k", "event_ts": 1767225600000 + i, "served_ts": 1767225600000 + served + i, "latency_ms": 0.0,
        "prediction": 0.5} for run, pipe, served in (("p-live", "p", 2000), ("replay-1", "p", 1000), ("q-live", "q", 0))
        for i in range(3)])
    sink.flush()
    assert M.run_ids(chdb_backend, fresh_db, pipeline="p") == ["replay-1", "p-live"]
    assert M.run_ids(chdb_backend, fresh_db) == ["q-live", "replay-1", "p-live"]
