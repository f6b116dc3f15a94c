"""The embedded stack: Tansu (Kafka protocol), Redis and a chDB server, started from PyPI wheels."""

from streams.stack.manager import StackState, down, status, up

__all__ = ["StackState", "down", "status", "up"]
