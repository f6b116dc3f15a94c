"""`eddy worker -c CONFIG`: run the Faust worker (score, learn and sink agents) of a pipeline."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from schemas import SchemaError, check_all
from streams.cli.options import (
    ClickhouseOpt,
    ConfigOpt,
    HomeOpt,
    KafkaOpt,
    RedisOpt,
    RegistryOpt,
    config,
    endpoints,
    fail,
    home_of,
)
from streams.exceptions import StreamsError


def worker(
    config_path: ConfigOpt,
    kafka: KafkaOpt = None,
    redis: RedisOpt = None,
    clickhouse: ClickhouseOpt = None,
    home: HomeOpt = None,
    registry: RegistryOpt = None,
    run_id: Annotated[str | None, typer.Option(envvar="EDDY_RUN_ID", help="Run id of the live run (default <pipeline>-live; stable across restarts so redeliveries dedup).")] = None,
    roles: Annotated[str, typer.Option(envvar="EDDY_ROLES", help="Comma-separated agents to run: score, learn, sink (default all). Run them as separate processes to use more cores.")] = "score,learn,sink",
    web_port: Annotated[int | None, typer.Option(envvar="EDDY_WEB_PORT", help="Serve Faust's web views on 127.0.0.1:PORT.")] = None,
    loglevel: Annotated[str, typer.Option(envvar="EDDY_LOGLEVEL")] = "info",
    metrics_port: Annotated[int | None, typer.Option(envvar="EDDY_METRICS_PORT", help="Serve /metrics, /health, /ready and /dashboard on this port (default off; 0 = any free port).")] = None,
    metrics_host: Annotated[str, typer.Option(envvar="EDDY_METRICS_HOST", help="Interface of the metrics server (0.0.0.0 to let Prometheus scrape from elsewhere).")] = "127.0.0.1",
    log_format: Annotated[str, typer.Option(envvar="EDDY_LOG_FORMAT", help="text, or json: one JSON object per line, lifecycle events only.")] = "text",
) -> None:
    """Consume <p>.events and <p>.labels; publish scores; learn; write ClickHouse."""
    import faust

    from streams.app import build_app
    from streams.kafka_io import ensure_topics
    from streams.manifest import live_run_id
    from streams.sinking import build_sink
    from streams.wiring import Codecs, schema_registry

    try:
        cfg = config(config_path)
        check_all([cfg.schema_file])  # the event contract and Eddy's built-in schemas parse with fastavro
        eps = endpoints(kafka, redis, clickhouse, home)
        codecs = Codecs.build(cfg, schema_registry(registry, home_of(home)))
        ensure_topics(eps.kafka, cfg.topics.layout())
        wait_for_redis(eps.redis, cfg.pipeline)
        wanted = frozenset(r.strip() for r in roles.split(",") if r.strip())
        if "score" in wanted:
            from features import warm_up

            # before joining the group: a first compile takes 10-20 s, which the first batch
            # would otherwise spend with its partitions assigned (a backlog at start, labels
            # overtaking their events)
            warm_up()
        live_run = live_run_id(cfg.pipeline, run_id)
        the_sink = None
        if "sink" in wanted:  # the sink owns the ClickHouse connection: it records the live run's manifest
            import time

            from streams.manifest import live_manifest

            ids = {attr: codecs.codec.schema_for(codecs.subject(attr))[0] for attr in ("events", "labels")}
            manifest = live_manifest(cfg, live_run, created_at=int(time.time() * 1000), schema_ids=ids)
            the_sink = build_sink(cfg, eps.clickhouse, manifest)
        app, _rt = build_app(cfg, eps, codecs, live_run, roles=wanted, sink=the_sink,
                             web_port=web_port, home=home_of(home))
    except (StreamsError, SchemaError, ValueError) as exc:
        fail(exc)
        return
    from streams.observability import log_start, logging_config, serve_worker, setup_logging

    logging.getLogger("eddy").setLevel(loglevel.upper())
    try:
        log_config = logging_config(log_format, loglevel)
        setup_logging(log_format, loglevel)
        log_start(_rt.metrics, eps, live_run)
        if metrics_port is not None:
            serve_worker(_rt.metrics, eps, the_sink, metrics_host, metrics_port)
    except ValueError as exc:
        fail(exc)
        return
    except OSError as exc:
        fail(StreamsError(f"cannot serve metrics on {metrics_host}:{metrics_port} ({exc}): pick another --metrics-port"))
        return
    from streams import gc_tuning

    class Worker(faust.Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            gc_tuning.settle()  # what start-up built lives for the run: out of the collector's scans

    gc_tuning.calm()  # full collections of a worker's heap were 110-215 ms pauses in the tail latency
    faust_worker = Worker(app, loglevel=loglevel, quiet=True, logging_config=log_config)
    # At --loglevel warning or above Faust keeps its terminal spinner, which sets the ROOT logger
    # to DEBUG so it spins on every record: aiokafka then built a LogRecord per fetch and send.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()


def wait_for_redis(url: str, pipeline: str, max_delay: float = 10.0) -> None:
    """Return once Redis answers: a worker started while Redis is down (a restart, a deploy
    ahead of it) waits for it, with a warning per attempt, instead of exiting into a crash loop."""
    import time

    import redis

    from streams.wiring import redis_client

    delay = 0.5
    while True:
        try:
            client = redis_client(url, pipeline)
            client.ping()
            client.close()
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logging.getLogger("eddy.worker").warning(
                "Redis does not answer (%s: %s): the worker starts when it does; retrying in %.1f s",
                type(exc).__name__, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
