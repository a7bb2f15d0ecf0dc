"""Handlers that keep the pool and the behaviour current from events, and serve recommendations."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

from common.auth import Principal
from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.contracts.recommender import ProfileSet, RecommendationServed
from common.contracts.viewstats import HeartbeatRecorded, ViewRecorded
from common.errors import NotFound
from common.messaging import EventPublisher
from common.outbox import Outbox
from recommender.cf import CoViews
from recommender.domain.behaviour import Behaviour
from recommender.domain.candidates import Candidate, Pool
from recommender.domain.learners import Profiles
from recommender.domain.people import People
from recommender.domain.profile import Profile
from recommender.domain.recommend import Item, for_student, for_teacher, popular, similar_resources
from recommender.service import LearningService, utcnow
from recommender.store import PROFILES, RecommenderStore

log = logging.getLogger("recommender")
TEACHER_KINDS = ("teacher",)


class BehaviourService:
    def __init__(
        self,
        store: RecommenderStore,
        pool: Pool,
        behaviour: Behaviour,
        coviews: CoViews,
        learning: LearningService,
        profiles: Profiles,
        people: People,
        outbox: Outbox,
        publisher: EventPublisher | None,
        sample_rate: float,
    ) -> None:
        self.store, self.pool, self.behaviour, self.coviews = store, pool, behaviour, coviews
        self.learning, self.profiles, self.people, self.outbox = learning, profiles, people, outbox
        self.publisher, self.sample_rate = publisher, sample_rate
        self._pending: set[asyncio.Task[None]] = set()

    # --- from events -------------------------------------------------------------------------------------
    def apply_catalog(self, events: list[ResourcePublished | ResourceWithdrawn]) -> None:
        for event in events:
            self.pool.apply(event)

    async def apply_views(self, events: list[ViewRecorded]) -> None:
        done = [
            (e.visitor_id, e.resource_id, e.viewed_at)
            for e in events
            if self.behaviour.view(e.visitor_id, e.resource_id, e.province, e.viewed_at, self.pool)
        ]
        await self.store.add_finished(done)

    async def apply_heartbeats(self, events: list[HeartbeatRecorded]) -> None:
        done = [
            (e.user_id, e.resource_id, e.at)
            for e in events
            if self.behaviour.heartbeat(e.user_id, e.resource_id, e.seconds, self.pool)
        ]
        await self.store.add_finished(done)

    def apply_profiles(self, events: list[ProfileSet]) -> None:
        for e in events:
            fields = e.model_dump(include=set(Profile.model_fields))
            self.profiles.set(e.user_id, Profile.model_validate(fields), e.set_at)

    async def load_finished(self) -> int:
        n = 0
        async for user, rid in self.store.scan_finished():
            self.behaviour.finish(user, rid)
            n += 1
        return n

    # --- queries -----------------------------------------------------------------------------------------
    def profile(self, who: Principal) -> Profile:
        return self.profiles.get(who.subject) or Profile()

    async def set_profile(self, who: Principal, profile: Profile) -> Profile:
        """Stored with its event (the outbox publishes it to every replica), and held here at once."""
        at = utcnow()
        fields = profile.model_dump()
        event = ProfileSet(user_id=who.subject, set_at=at, **fields)
        pending = await self.store.unpublished_profile_events(who.subject, self.outbox)
        async with self.outbox.change(PROFILES, {who.subject: [event]}) as change:
            await self.store.save_profile(who.subject, profile, at, pending, change)
        self.profiles.set(who.subject, profile, at)
        return profile

    async def for_me(self, who: Principal, limit: int) -> dict[str, Any]:
        """A page from memory only: profile, mastery, finishes, the pool and popularity are all held here."""
        profile = self.profile(who)
        kind = who.kind or self.people.kinds.get(who.subject)
        if kind in TEACHER_KINDS:
            items = for_teacher(self.pool, self.behaviour, who.subject, profile, limit)
        else:
            mastery = self.learning.learners.mastery(who.subject)
            items = for_student(self.pool, self.behaviour, who.subject, profile, mastery, self.coviews.similar, limit)
        page_id = uuid.uuid4().hex
        await self._announce(page_id, who.subject, items)
        return {"page_id": page_id, "items": [_item(i) for i in items]}

    def similar(self, rid: str, limit: int) -> dict[str, Any]:
        if self.pool.get(rid) is None:
            raise NotFound(f"resource {rid} is not in the candidate pool", code="candidate-not-found")
        return {"items": [_item(i) for i in similar_resources(self.pool, rid, self.coviews.similar, limit)]}

    def popular(self, province: str | None, grade: int | None, subject: str | None, limit: int) -> dict[str, Any]:
        rids = popular(
            self.pool, self.behaviour, province, {grade} if grade else set(), {subject} if subject else set(), limit
        )
        counts = self.behaviour.views_by_province.get(province or "*", {})
        return {
            "items": [
                {"resource_id": r, "title": self.pool.resources[r].title, "views": counts.get(r, 0)} for r in rids
            ]
        }

    def candidate(self, rid: str) -> Candidate:
        c = self.pool.get(rid)
        if c is None:
            raise NotFound(f"resource {rid} is not in the candidate pool", code="candidate-not-found")
        return c

    async def _announce(self, page_id: str, user: str, items: list[Item]) -> None:
        """Sampled, and best effort: a page is not state, and click-through analysis tolerates a lost sample."""
        if self.publisher is None or not items or random.random() >= self.sample_rate:
            return
        event = RecommendationServed(
            page_id=page_id,
            user_id=user,
            resource_ids=[i.resource_id for i in items],
            reasons=[i.reason_code for i in items],
            served_at=utcnow(),
        )
        task = asyncio.create_task(self._publish(event))  # the page does not wait for Kafka
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, event: RecommendationServed) -> None:
        try:
            await self.publisher.publish_many([event])  # type: ignore[union-attr]
        except Exception:  # sampled telemetry must never fail anything
            log.debug("recommendation-served sample not published", exc_info=True)


def _item(i: Item) -> dict[str, Any]:
    return {
        "resource_id": i.resource_id,
        "title": i.title,
        "kind": i.kind,
        "reason": i.reason,
        "reason_code": i.reason_code,
    }
