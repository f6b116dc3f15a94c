"""Redis Cluster: a pipeline's client talks to the node that owns the pipeline's hash slot.

All keys of a pipeline share one slot (`streams.keyspace`), so every command and script of a
worker goes to one node: a plain `redis.Redis` on that node does the whole job (Eddy's framed
round trips and scripts included), and pipelines spread over a cluster's nodes by their slots.

`slot_client(url, pipeline)` asks the node in `url` whether it is part of a cluster (``INFO
cluster``). A standalone server gets a plain client. In a cluster the client's connections
follow the slot:

- a ``MOVED`` reply (the slot was resharded, or a replica took over) points them at the new
  owner;
- a node that does not answer makes them ask the nodes they know (``CLUSTER SLOTS``) who owns
  the slot now (a failover);
- ``MOVED``, ``ASK``, ``TRYAGAIN`` and ``CLUSTERDOWN`` reach the caller as a
  `redis.ConnectionError`: the command did not run, and every Eddy path retries connection
  errors (the client's own retry, then the worker's backoff). While the slot migrates, the
  pipeline waits for the move to end.
- so does the error of a script that touched a key it did not declare (the commit's seen sets
  and snapshots) while the slot migrates (the key is, or would be, on the importing node) or
  while the cluster is down: the node refuses that command inside the script (``... non local
  key in a cluster node``, ``... while the cluster is down``), which is a redirect, not a
  fault of the script. (The feature commit reads every key it will write before its first
  write, so such a refusal leaves nothing written: `features.redis_store`.)
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from redis.exceptions import AskError, ClusterDownError, MovedError, TryAgainError

from streams.keyspace import key

log = logging.getLogger("eddy.redis")

#: timeouts of Eddy's Redis clients (s)
CLIENT_OPTIONS = {"socket_timeout": 10, "socket_connect_timeout": 5, "health_check_interval": 30}
_REDIRECTS = (MovedError, AskError, TryAgainError, ClusterDownError)
#: a script's error when a key it did not declare is not served here now (Redis 6 says "Lua
#: script", 7 "Script"), or when the cluster is down
_SCRIPT_REDIRECTS = ("attempted to access a non local key in a cluster node", "while the cluster is down")


def is_cluster(client: redis.Redis) -> bool:
    """Whether `client`'s server runs in cluster mode."""
    try:
        return bool(client.info("cluster").get("cluster_enabled"))
    except redis.ResponseError:  # INFO not allowed (ACL): a server that hides it is taken as standalone
        return False


Node = tuple[str, int]
#: ``CLUSTER SLOTS`` as (first slot, last slot, [master, replica, ...]) ranges
SlotMap = list[tuple[int, int, list[Node]]]


def slot_map(client: redis.Redis) -> SlotMap:
    """``CLUSTER SLOTS`` on `client`'s node (a node that announces no host is `client`'s host)."""
    here = client.connection_pool.connection_kwargs["host"]
    return [(int(start), int(end), [((n[0].decode() if isinstance(n[0], bytes) else n[0]) or here, int(n[1]))
                                    for n in served])
            for start, end, *served in client.execute_command("CLUSTER SLOTS")]


def slot_owner(slots: SlotMap, slot: int) -> Node:
    """The master that serves `slot`."""
    for start, end, served in slots:
        if start <= slot <= end:
            return served[0]
    raise redis.ConnectionError(f"Redis Cluster: no node serves slot {slot} (CLUSTERDOWN)")


def masters(slots: SlotMap) -> list[Node]:
    """Every master, sorted."""
    return sorted({served[0] for _start, _end, served in slots})


def slot_nodes(slots: SlotMap) -> set[Node]:
    """Every node that serves slots, masters and replicas (a replica is who a failover promotes:
    asked then, it knows its new slots)."""
    return {node for _start, _end, served in slots for node in served}


def master_clients(client: redis.Redis) -> list[redis.Redis]:
    """A client per master of `client`'s cluster (same settings: auth, TLS), or `[client]` for a
    standalone server; e.g. to SCAN every node."""
    if not is_cluster(client):
        return [client]
    return [_client_at(client.connection_pool, node) for node in masters(slot_map(client))]


def _client_at(pool: redis.ConnectionPool, node: Node, connection_class: type | None = None,
               **overrides: Any) -> redis.Redis:
    """A client with `pool`'s connection settings (auth, TLS), on another node."""
    host, port = node
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=connection_class or pool.connection_class,
        **{**pool.connection_kwargs, "host": host, "port": port, **overrides}))


class SlotRoute:
    """Where one slot is served now, shared by the connections of one pool (thread-safe)."""

    def __init__(self, slot: int, owner: Node, probe: redis.ConnectionPool, known: set[Node] = frozenset()) -> None:
        self.slot = slot
        self.owner = owner
        # every node to ask after a failover: the seed alone is not enough when it is the owner
        self.known = {owner, (probe.connection_kwargs["host"], probe.connection_kwargs["port"]), *known}
        self._probe = probe  # connection settings (auth, TLS) to ask other nodes with
        self._lock = threading.Lock()

    def moved(self, host: str, port: int) -> None:
        with self._lock:
            if (host, port) != self.owner:
                log.info("Redis Cluster: slot %d moved from %s:%d to %s:%d", self.slot, *self.owner, host, port)
            self.owner = (host, port)
            self.known.add(self.owner)

    def rediscover(self) -> None:
        """Ask the known nodes (the current owner last) who serves the slot now."""
        with self._lock:
            nodes = sorted(self.known - {self.owner}) + [self.owner]
        for node in nodes:
            client = _client_at(self._probe, node, socket_connect_timeout=1, socket_timeout=1)
            try:
                slots = slot_map(client)
                owner = slot_owner(slots, self.slot)
                with self._lock:
                    self.known.update(slot_nodes(slots))
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
            self.moved(*owner)
            return


def _following(base: type[redis.connection.AbstractConnection], route: SlotRoute) -> type:
    """A subclass of `base` whose connections go to `route`'s owner and follow its moves."""

    class SlotConnection(base):  # type: ignore[misc, valid-type]
        def _connect(self) -> Any:
            self.host, self.port = route.owner
            try:
                return super()._connect()
            except OSError:
                route.rediscover()
                raise

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().read_response(*args, **kwargs)
            except _REDIRECTS as exc:
                if isinstance(exc, MovedError):
                    route.moved(exc.host, exc.port)
                self.disconnect()
                raise redis.ConnectionError(f"Redis Cluster slot {route.slot} redirected: {exc}") from exc
            except redis.ResponseError as exc:
                if not any(m in str(exc) for m in _SCRIPT_REDIRECTS):
                    raise
                self.disconnect()
                raise redis.ConnectionError(f"Redis Cluster slot {route.slot} not served here now: {exc}") from exc

    SlotConnection.__name__ = SlotConnection.__qualname__ = f"Slot{base.__name__}"
    return SlotConnection


def seed_urls(url: str) -> list[str]:
    """The URLs in `url`: one, or several separated by commas (a cluster's seed nodes).

    >>> seed_urls("redis://a:6379/0,rediss://b:6380/0")
    ['redis://a:6379/0', 'rediss://b:6380/0']
    """
    parts = [p.strip() for p in url.split(",")]
    return parts if len(parts) > 1 and all(p.startswith(("redis://", "rediss://")) for p in parts) else [url]


def slot_client(url: str, pipeline: str | None = None, **options: Any) -> redis.Redis:
    """A client for `url` (``redis://`` / ``rediss://``; passwords stay in the URL, never logged).

    On a Redis Cluster node and with a `pipeline`, the client serves that pipeline's slot (see
    the module doc); without one, it talks to the node of `url`. A cluster's `url` may name
    several seed nodes, separated by commas: the first that answers gives the slot map.
    """
    options = {**CLIENT_OPTIONS, **options}
    seeds = seed_urls(url)
    for n, seed_url in enumerate(seeds, 1):
        client = redis.Redis.from_url(seed_url, **options)
        if pipeline is None:
            return client
        try:
            if not is_cluster(client):
                return client
            break
        except (redis.ConnectionError, redis.TimeoutError):
            client.close()
            if n == len(seeds):
                raise
            log.info("Redis seed node %d of %d does not answer; trying the next", n, len(seeds))
    slot = int(client.execute_command("CLUSTER KEYSLOT", key(pipeline, "x")))
    slots = slot_map(client)
    seed = client.connection_pool
    route = SlotRoute(slot, slot_owner(slots, slot), seed, slot_nodes(slots))
    client.close()
    return _client_at(seed, route.owner, _following(seed.connection_class, route))


__all__ = ["SlotMap", "SlotRoute", "is_cluster", "master_clients", "masters", "seed_urls", "slot_client", "slot_map",
           "slot_nodes", "slot_owner"]
