import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from analytics.report import build_report, nice_bucket_ms
from analytics.report.svg import bar_chart, heatmap, line_chart, timeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(chdb_backend, stream_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    return build_report(chdb_backend, stream_db, out_path=out, pipeline="demo",
                        segments=["region", "channel"], generated_ms=1767300000000)


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


def test_report_with_no_data(chdb_backend, fresh_db, tmp_path):
    out = build_report(chdb_backend, fresh_db, out_path=tmp_path / "r.html", run_id="none")
    assert "No predictions match" in out.read_text()


def test_charts_escape_text_and_handle_gaps():
    svg = line_chart({"<b>": [(0, 1.0), (1, None), (2, 2.0)]}, title="a & b")
    assert "&lt;b&gt;" in svg and "a &amp; b" in svg
    assert "no data" in bar_chart({}, title="x")
    assert "no data" in heatmap([], [], {}, title="x")
    assert "no alerts" in timeline([], title="x")
    assert nice_bucket_ms(10 * 86_400_000) == 86_400_000


def _chromium_console(path, shot):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--window-size=1400,3000",
         f"--screenshot={shot}", f"file://{path}"],
        capture_output=True, text=True, timeout=120)
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
