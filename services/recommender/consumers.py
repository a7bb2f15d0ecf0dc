"""Kafka consumers of the recommender: thin, each hands decoded events to the read model that owns them. Every
group is per process (``RECOMMENDER_REPLICA_ID``) and reads its topic from the start: the read models live in
memory, rebuilt at each start (finishes and answers are also kept in the store, beyond the topics' retention, and
loaded before the consumers start). Readiness waits until each of them has replayed its topic up to the end
offsets captured at start (``replay=True``), so a new replica never serves an incomplete pool or a profile-less
page."""

from __future__ import annotations

from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.contracts.exercises import ExercisePublished, ExerciseWithdrawn
from common.contracts.identity import UserRegistered
from common.contracts.recommender import AnswerGraded, ProfileSet
from common.contracts.viewstats import HeartbeatRecorded, ViewRecorded
from common.messaging import Envelope
from common.service import ServiceKit
from common.topics import CLASSGROUPS_CLASSES
from recommender.behaviour import BehaviourService
from recommender.domain.classes import CLASS_EVENTS, Classes
from recommender.domain.exercises import ExerciseBank
from recommender.domain.people import PEOPLE_EVENTS, People
from recommender.service import LearningService


def register(
    kit: ServiceKit,
    suffix: str,
    bank: ExerciseBank,
    people: People,
    classes: Classes,
    behaviour: BehaviourService,
    learning: LearningService,
) -> None:
    def consumer(topic: str, group: str, max_records: int = 2000):
        return kit.consumer(
            topic=topic, group=group, batch=True, max_records=max_records, group_suffix=f".{suffix}", replay=True
        )

    @consumer(ResourcePublished.TOPIC, "recommender-catalog")
    async def on_catalog_change(envelopes: list[Envelope]) -> None:
        """The candidate pool: published resources in, withdrawn ones out (any unknown event type or version is
        left alone, so a new version of the resource events does not stop the pool)."""
        behaviour.apply_catalog(
            [e.event for e in envelopes if isinstance(e.event, ResourcePublished | ResourceWithdrawn)]
        )

    @consumer(ExercisePublished.TOPIC, "recommender-exercises")
    async def on_exercise(envelopes: list[Envelope]) -> None:
        for e in envelopes:
            if isinstance(e.event, ExercisePublished | ExerciseWithdrawn):
                bank.apply(e.event)

    @consumer(UserRegistered.TOPIC, "recommender-people")
    async def on_people(envelopes: list[Envelope]) -> None:
        for e in envelopes:
            if isinstance(e.event, PEOPLE_EVENTS):
                people.apply(e.event)

    @consumer(CLASSGROUPS_CLASSES, "recommender-classes")
    async def on_classes(envelopes: list[Envelope]) -> None:
        for e in envelopes:
            if isinstance(e.event, CLASS_EVENTS):
                classes.apply(e.event)

    @consumer(AnswerGraded.TOPIC, "recommender-learning", max_records=5000)
    async def on_graded(envelopes: list[Envelope]) -> None:
        learning.apply_graded([e.event for e in envelopes if isinstance(e.event, AnswerGraded)])

    @consumer(ProfileSet.TOPIC, "recommender-profiles")
    async def on_profiles(envelopes: list[Envelope]) -> None:
        behaviour.apply_profiles([e.event for e in envelopes if isinstance(e.event, ProfileSet)])

    @consumer(ViewRecorded.TOPIC, "recommender-views", max_records=5000)
    async def on_views(envelopes: list[Envelope]) -> None:
        await behaviour.apply_views([e.event for e in envelopes if isinstance(e.event, ViewRecorded)])

    @consumer(HeartbeatRecorded.TOPIC, "recommender-heartbeats", max_records=5000)
    async def on_heartbeats(envelopes: list[Envelope]) -> None:
        await behaviour.apply_heartbeats([e.event for e in envelopes if isinstance(e.event, HeartbeatRecorded)])
