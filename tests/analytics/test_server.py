import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from analytics.backends import HttpBackend
from analytics.exceptions import QueryError, ReadOnlyError
from analytics.schema import ensure_schema
from analytics.sink import Sink

from .fixtures import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("srv") / "chdb").start()
    yield srv
    srv.stop()


def _get(url, **args):
    with urllib.request.urlopen(url + "/?" + urllib.parse.urlencode(args), timeout=10) as r:
        return r.read().decode()


def test_ping_and_get_query(server):
    assert urllib.request.urlopen(server.url + "/ping").read() == b"Ok.\n"
    assert _get(server.url, query="SELECT 1 + 1") == "2\n"
    assert _get(server.url, query="SELECT 7 AS x", default_format="JSONEachRow") == '{"x":7}\n'
    assert _get(server.url, query="SELECT 7 AS x FORMAT CSVWithNames") == '"x"\n7\n'
    assert _get(server.url, query="SELECT {a:Int64} * 2 AS y", param_a="21",
                default_format="JSONEachRow") == '{"y":42}\n'


def test_post_body_and_insert_data_in_body(server):
    ensure_schema(HttpBackend(server.url), "srv", ttl_days=3650)
    row = {"pipeline": "p", "event_id": "e1", "label": 1.0, "label_ts": "1767225600.5"}
    req = urllib.request.Request(
        server.url + "/?" + urllib.parse.urlencode(
            {"query": "INSERT INTO srv.labels FORMAT JSONEachRow", "readonly": "0"}),
        data=json.dumps(row).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    req = urllib.request.Request(server.url + "/?default_format=JSONEachRow",
                                 data=b"SELECT event_id, label FROM srv.labels", method="POST")
    assert urllib.request.urlopen(req, timeout=10).read() == b'{"event_id":"e1","label":1}\n'


def test_read_only_unless_asked(server):
    ro = HttpBackend(server.url, readonly=True)
    with pytest.raises(ReadOnlyError, match="readonly=0"):
        ro.execute("CREATE DATABASE nope")
    with pytest.raises(ReadOnlyError):
        ro.execute("SELECT 1; CREATE DATABASE nope")  # a multi-statement cannot sneak a write
    with pytest.raises(ReadOnlyError):
        ro.execute("SET readonly = 0")
    with pytest.raises(urllib.error.HTTPError) as info:  # the raw HTTP answer is 403
        urllib.request.urlopen(server.url + "/?" + urllib.parse.urlencode(
            {"query": "CREATE DATABASE nope"}), timeout=10)
    assert info.value.code == 403
    req = urllib.request.Request(server.url + "/", data=b"CREATE DATABASE IF NOT EXISTS yes_hdr",
                                 headers={"X-Eddy-Readonly": "0"}, method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    assert ro.query("SELECT count() AS n FROM system.databases WHERE name IN ('nope', 'yes_hdr')") == [{"n": 1}]


def test_read_only_hint_said_once(server):
    """The server's 403 already carries the hint; the HTTP client and `eddy sql` keep it once."""
    from typer.testing import CliRunner

    from streams.cli.main import app

    with pytest.raises(ReadOnlyError) as info:
        HttpBackend(server.url, readonly=True).execute("CREATE DATABASE nope")
    assert str(info.value).count("this endpoint is read-only") == 1
    res = CliRunner().invoke(app, ["sql", "CREATE TABLE default.nope (x Int8) ENGINE = Memory",
                                   "--clickhouse", server.url])
    assert res.exit_code == 2
    assert res.stderr.count("this endpoint is read-only") == 1, res.stderr

def test_errors_and_unknown_paths(server):
    with pytest.raises(QueryError, match="UNKNOWN"):
        HttpBackend(server.url).query("SELECT no_such_column")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.url + "/nope", timeout=10)
    assert info.value.code == 404


def test_sink_through_the_server(server):
    backend = HttpBackend(server.url)
    ensure_schema(backend, "srv", ttl_days=3650)
    sink = Sink(backend, "srv")
    rows = [{"pipeline": "p", "event_id": f"x{i}", "label": 0.0, "label_ts": 1767225600000 + i}
            for i in range(50)]
    sink.add("labels", rows)
    sink.add("labels", rows)
    sink.flush()
    assert backend.query("SELECT count() AS n FROM srv.labels WHERE event_id LIKE 'x%'") == [{"n": 50}]


def test_metrics_and_report_over_http(server, tmp_path):
    from analytics import metrics as M
    from analytics.report import build_report
    from analytics.schema import ensure_views
    from analytics.testing import synthetic_stream

    backend = HttpBackend(server.url)
    ensure_schema(backend, "web", ttl_days=3650)
    ensure_views(backend, "web")
    s = synthetic_stream(n_windows=2, per_window=200, pipeline="it's \\ web")
    sink = Sink(backend, "web", max_batch_rows=1000)
    sink.add("predictions", s.predictions)
    sink.add("labels", s.labels)
    sink.flush()
    f = M.Filters(pipeline="it's \\ web")          # quotes and backslashes travel as data
    rows = M.segment_metrics(backend, "web", segments=["region", "it's"], filters=f)
    assert {r["segment"] for r in rows} == {"region", "it's"}
    assert sum(r["n"] for r in rows if r["segment"] == "region" and r["model"] == "champion") == \
        sum(1 for r in s.labels)
    ro = HttpBackend(server.url, readonly=True)   # analysts read through a read-only endpoint
    assert M.model_metrics(ro, "web", filters=f)[0]["n"] == len(s.labels)
    out = build_report(ro, "web", out_path=tmp_path / "r.html", segments=["region"])
    assert "Segments and disparity" in out.read_text()
