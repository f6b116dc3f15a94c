"""The embedded stack: Tansu (Kafka protocol), Redis and a chDB server, started from PyPI wheels."""

from streams.stack.manager import StackState, down, start_service, status, stop_service, up

__all__ = ["StackState", "down", "start_service", "status", "stop_service", "up"]
