"""Kafka consumers of the recommender: thin, each hands decoded events to the read model that owns them. Every
group is per process (``RECOMMENDER_REPLICA_ID``) and reads its topic from the start: the read models live in
memory, rebuilt at each start (finishes are also kept in the store, beyond the topics' retention)."""

from __future__ import annotations

from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.contracts.exercises import ExercisePublished, ExerciseWithdrawn
from common.contracts.identity import UserRegistered
from common.contracts.viewstats import HeartbeatRecorded, ViewRecorded
from common.messaging import Envelope
from common.service import ServiceKit
from recommender.behaviour import BehaviourService
from recommender.domain.exercises import ExerciseBank
from recommender.domain.people import PEOPLE_EVENTS, People


def register(kit: ServiceKit, suffix: str, bank: ExerciseBank, people: People, behaviour: BehaviourService) -> None:
    suffix = f".{suffix}"

    @kit.consumer(
        topic=ResourcePublished.TOPIC, group="recommender-catalog", batch=True, max_records=2000, group_suffix=suffix
    )
    async def on_catalog_change(envelopes: list[Envelope]) -> None:
        """The candidate pool: published resources in, withdrawn ones out (any unknown event type or version is
        left alone, so a new version of the resource events does not stop the pool)."""
        behaviour.apply_catalog(
            [e.event for e in envelopes if isinstance(e.event, ResourcePublished | ResourceWithdrawn)]
        )

    @kit.consumer(
        topic=ExercisePublished.TOPIC, group="recommender-exercises", batch=True, max_records=2000, group_suffix=suffix
    )
    async def on_exercise(envelopes: list[Envelope]) -> None:
        for e in envelopes:
            if isinstance(e.event, ExercisePublished | ExerciseWithdrawn):
                bank.apply(e.event)

    @kit.consumer(
        topic=UserRegistered.TOPIC, group="recommender-people", batch=True, max_records=2000, group_suffix=suffix
    )
    async def on_people(envelopes: list[Envelope]) -> None:
        for e in envelopes:
            if isinstance(e.event, PEOPLE_EVENTS):
                people.apply(e.event)

    @kit.consumer(
        topic=ViewRecorded.TOPIC, group="recommender-views", batch=True, max_records=5000, group_suffix=suffix
    )
    async def on_views(envelopes: list[Envelope]) -> None:
        await behaviour.apply_views([e.event for e in envelopes if isinstance(e.event, ViewRecorded)])

    @kit.consumer(
        topic=HeartbeatRecorded.TOPIC,
        group="recommender-heartbeats",
        batch=True,
        max_records=5000,
        group_suffix=suffix,
    )
    async def on_heartbeats(envelopes: list[Envelope]) -> None:
        await behaviour.apply_heartbeats([e.event for e in envelopes if isinstance(e.event, HeartbeatRecorded)])
