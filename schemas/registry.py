"""The schema registry contract shared by the folder and the Confluent implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod

from schemas.avsc import Schema
from schemas.compat import check_compatibility
from schemas.exceptions import SchemaNotFoundError


def subject_for(topic: str) -> str:
    """Subject of a topic's value schema (Confluent TopicNameStrategy).

    >>> subject_for("fraud.events")
    'fraud.events-value'
    """
    return f"{topic}-value"


class SchemaRegistry(ABC):
    """Stores schemas under subjects; every distinct schema gets a stable integer id.

    `compatibility` is the rule `register` enforces against the subject's latest version.
    """

    compatibility: str = "BACKWARD"

    @abstractmethod
    def register(self, subject: str, schema: Schema | str) -> int:
        """Register `schema` under `subject` (after `check_compatible`) and return its id.

        Registering the same schema again returns the same id.
        """

    @abstractmethod
    def get_by_id(self, schema_id: int) -> Schema:
        """The parsed schema with that id; raise `SchemaNotFoundError` if unknown."""

    @abstractmethod
    def latest(self, subject: str) -> tuple[int, Schema]:
        """(id, parsed schema) of the subject's latest version; `SchemaNotFoundError` if none."""

    def get(self, schema_id: int) -> Schema:
        """Alias of `get_by_id`."""
        return self.get_by_id(schema_id)

    def check_compatible(self, subject: str, schema: Schema | str) -> None:
        """Raise `IncompatibleSchemaError` if `schema` may not follow the subject's latest version."""
        try:
            _, old = self.latest(subject)
        except SchemaNotFoundError:
            return
        check_compatibility(schema, old, self.compatibility, subject=subject)
