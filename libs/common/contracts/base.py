"""The base of every integration event the platform publishes.

Each event type is one versioned pydantic model, declared in this package (one module per publishing
service). The model's class attributes say where it goes and what it is called on the wire:

- ``TYPE``: the CloudEvents ``type``, reverse-DNS and versioned, e.g. ``cn.smartedu.catalog.resource.published.v1``;
- ``TOPIC``: the Kafka topic it is published to (declared in :mod:`common.topics`);
- :meth:`Event.key`: the Kafka record key, the id of the aggregate it is about (keeps its events in order);
- :meth:`Event.subject`: the CloudEvents ``subject`` (defaults to the key).

Events describe facts in the past tense, carry no secrets and no raw personal data (ids only).
A breaking change is a new model with ``.v2`` in its type, published beside the old one until every
subscriber has moved; on a compacted topic, where only a key's last record survives, the new type replaces the
old one at once and the old model stays declared (``SUPERSEDED_BY``) so that subscribers still read the records
written before (``catalog.ResourcePublishedV1``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

EVENT_TYPES: dict[str, type[Event]] = {}
"""Every declared event type by its CloudEvents type, filled as the contract modules are imported."""


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    SUPERSEDED_BY: ClassVar[str | None] = None
    """The type that replaced this one: subscribers still read it from the topic, nobody publishes it."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("TYPE")
        if event_type is None:  # an abstract intermediate class
            return
        if event_type in EVENT_TYPES and EVENT_TYPES[event_type] is not cls:
            raise TypeError(f"event type {event_type} is declared twice")
        if not event_type.startswith("cn.smartedu.") or not event_type.rsplit(".", 1)[-1].startswith("v"):
            raise TypeError(f"event type {event_type} must look like cn.smartedu.<service>.<name>.v<N>")
        EVENT_TYPES[event_type] = cls

    def key(self) -> str:
        """The Kafka record key: the id of the aggregate this event is about."""
        raise NotImplementedError

    def subject(self) -> str | None:
        return self.key()
