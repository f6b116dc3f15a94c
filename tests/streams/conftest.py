"""The feature tests' real redis-server, shared: one per session."""

from tests.features.conftest import namespace, redis_client, redis_url  # noqa: F401
