import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from analytics.report import build_report, nice_bucket_ms
from analytics.report.svg import bar_chart, heatmap, interval_chart, line_chart, timeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _row(segment, value, metric, diff, low, high, method="bootstrap", p=float("nan")):
    return {"segment": segment, "value": value, "n": 400, "metric": metric, "a": 0.7, "b": 0.7 + diff,
            "diff": diff, "low": low, "high": high, "method": method, "p_value": p}


COMPARISON = {
    "run_a": "demo-live", "run_b": "demo-<b>", "model_a": "champion", "model_b": "tree", "events": 1200,
    "only_a": 3, "only_b": 0, "n_boot": 200, "seed": 42,
    "rows": [_row("all", "", "accuracy", 0.01, -0.01, 0.03), _row("all", "", "log_loss", -0.02, -0.04, -0.001),
             _row("all", "", "roc_auc", 0.05, 0.02, 0.08, "delong", 0.0007),
             _row("region", "C", "roc_auc", 0.04, -0.03, 0.11, "delong", 0.26)],
}


@pytest.fixture(scope="module")
def report(chdb_backend, stream_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    return build_report(chdb_backend, stream_db, out_path=out, pipeline="demo",
                        segments=["region", "channel"], generated_ms=1767300000000, comparison=COMPARISON)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained_with_every_plot(report):
    html = report.read_text()
    parser = _Tags()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    assert tags.count("svg") >= 6 + 1 + 8 + 1 + 1   # quality, calibration, segments, PSI, alerts
    for _, attrs in parser.tags:
        for key in ("src", "href"):
            assert key not in attrs, attrs               # nothing loaded from anywhere
    assert not re.search(r"https?://|url\(|@import", html)
    assert "<script" not in html
    for title in ["ROC AUC per model over time", "Calibration", "PSI vs the reference window",
                  "Alerts timeline", "champion: region (worst: C"]:
        assert title in html
    assert html.count("<table>") >= 8


def test_report_has_the_backtest_table_and_interval_charts(report):
    html = report.read_text()
    section = html[html.index("<h2>Back-test"):html.index("<h2>Model quality")]
    assert "Back-test: demo-&lt;b&gt; (tree) vs demo-live (champion)" in section  # escaped
    assert "1200 events labelled in both runs" in section and "DeLong" in section
    for title in ("accuracy: B - A with 95% CI", "log_loss: B - A with 95% CI", "roc_auc: B - A with 95% CI"):
        assert title in section
    assert section.count("<svg") == 3 and "region=C" in section
    # an interval that excludes 0 is drawn in red, one that covers it is not
    roc = section[section.index("roc_auc: B - A"):]
    assert roc.count('fill="#b00"') == 1
    overall = section[section.index("<table>"):section.index("</table>")]
    assert overall.count("<tr>") == 1 + 3 and "delong" in overall and "0.0007" in overall


def test_a_comparison_without_common_events(chdb_backend, fresh_db, tmp_path):
    empty = {**COMPARISON, "events": 0, "rows": []}
    html = build_report(chdb_backend, fresh_db, out_path=tmp_path / "r.html", run_id="none", comparison=empty).read_text()
    assert "No labelled events common to both runs" in html


def test_report_with_no_data(chdb_backend, fresh_db, tmp_path):
    out = build_report(chdb_backend, fresh_db, out_path=tmp_path / "r.html", run_id="none")
    assert "No predictions match" in out.read_text()


def test_charts_escape_text_and_handle_gaps():
    svg = line_chart({"<b>": [(0, 1.0), (1, None), (2, 2.0)]}, title="a & b")
    assert "&lt;b&gt;" in svg and "a &amp; b" in svg
    assert "no data" in bar_chart({}, title="x")
    assert "no data" in heatmap([], [], {}, title="x")
    assert "no alerts" in timeline([], title="x")
    assert "no data" in interval_chart([("a", float("nan"), float("nan"), float("nan"))], title="x")
    assert "&lt;i&gt;" in interval_chart([("<i>", 0.1, 0.0, 0.2)], title="x")
    assert nice_bucket_ms(10 * 86_400_000) == 86_400_000


def _chromium_console(path, shot):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--window-size=1400,3000",
         f"--screenshot={shot}", f"file://{path}"],
        check=False, capture_output=True, text=True, timeout=120)
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed")
def test_report_renders_in_headless_chromium_without_console_errors(report, tmp_path):
    # the detector works: a broken page is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefined_function()</script></body></html>")
    assert _chromium_console(bad, tmp_path / "bad.png")
    shot = tmp_path / "report.png"
    assert _chromium_console(report, shot) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a page full of charts


def test_a_regression_report_shows_errors_not_classification_rates(chdb_backend, stream_db, tmp_path):
    """A regressor's AUC, accuracy and calibration mean nothing: MAE and RMSE instead."""
    out = build_report(chdb_backend, stream_db, out_path=tmp_path / "r.html", pipeline="demo", task="regression",
                       segments=["region"], generated_ms=1767300000000)
    html = out.read_text()
    assert "MAE per model over time" in html and "RMSE per model over time" in html
    assert "ROC AUC per model" not in html and "not drawn for a regression task" in html


def test_a_multiclass_report_draws_no_binary_figures(chdb_backend, stream_db, tmp_path):
    out = build_report(chdb_backend, stream_db, out_path=tmp_path / "m.html", pipeline="demo", task="multiclass",
                       generated_ms=1767300000000)
    html = out.read_text()
    assert "class accuracy per model over time" in html
    assert "ROC AUC per model" not in html and "MAE per model" not in html
