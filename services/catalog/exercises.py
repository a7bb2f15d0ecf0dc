"""Handlers of the catalog's exercise items (习题): publish, edit, withdraw, read the public view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from catalog.domain.exercise import ExerciseContent, check, exercise_id, place_of, public_view, snapshot
from catalog.domain.resource import Actor
from catalog.exercise_store import EXERCISES, ExerciseStore, VersionTaken, version_id
from catalog.readmodel import ReadModel
from common.contracts.exercises import ExercisePublished, ExerciseSnapshot, ExerciseWithdrawn
from common.errors import Conflict, Forbidden, Gone, NotFound
from common.outbox import Outbox


class ExerciseBank:
    def __init__(self, store: ExerciseStore, outbox: Outbox, read: ReadModel) -> None:
        self.store, self.outbox, self.read = store, outbox, read

    async def publish(self, actor: Actor, provider_id: str, external_id: str, content: ExerciseContent) -> dict:
        """Version 1 of a new exercise; the same (provider, external id) with the same content again answers the
        exercise it made (a retry), with other content a conflict (edit it instead)."""
        if not actor.may_review(provider_id):
            raise Forbidden("only the provider's reviewers publish exercises", code="forbidden")
        check(content)
        eid = exercise_id(provider_id, external_id)
        snap = snapshot(eid, 1, provider_id, content, place_of(content.lesson_id, self.read.nodes), _now())
        try:
            await self._append(snap, "published", ExercisePublished(exercise=snap))
        except VersionTaken:
            existing = await self.store.latest(eid)
            if existing and existing["version"] == 1 and _same(existing["snapshot"], snap):
                return existing["snapshot"]
            raise Conflict(
                f"exercise {external_id} of {provider_id} exists", code="exercise-exists", exercise_id=eid
            ) from None
        return snap.model_dump(mode="json")

    async def edit(self, actor: Actor, eid: str, content: ExerciseContent) -> dict[str, Any]:
        current = await self._current(eid, actor)
        check(content)
        old = ExerciseSnapshot.model_validate(current["snapshot"])
        place = place_of(content.lesson_id, self.read.nodes)
        snap = snapshot(eid, current["version"] + 1, old.provider_id, content, place, _now())
        await self._append_or_conflict(snap, "published", ExercisePublished(exercise=snap))
        return snap.model_dump(mode="json")

    async def withdraw(self, actor: Actor, eid: str, reason: str) -> dict[str, Any]:
        current = await self._current(eid, actor)
        old = ExerciseSnapshot.model_validate(current["snapshot"])
        version = current["version"] + 1
        event = ExerciseWithdrawn(exercise_id=eid, version=version, reason=reason, withdrawn_at=_now())
        await self._append_or_conflict(old.model_copy(update={"version": version}), "withdrawn", event)
        return {"id": eid, "version": version, "state": "withdrawn"}

    async def public(self, eid: str) -> dict[str, Any]:
        doc = await self.store.latest(eid)
        if doc is None:
            raise NotFound(f"no exercise {eid}", code="exercise-not-found")
        if doc["state"] == "withdrawn":
            raise Gone(f"exercise {eid} was withdrawn", code="exercise-withdrawn")
        return {**public_view(doc["snapshot"]), "version": doc["version"]}

    async def _current(self, eid: str, actor: Actor) -> dict[str, Any]:
        doc = await self.store.latest(eid)
        if doc is None:
            raise NotFound(f"no exercise {eid}", code="exercise-not-found")
        if not actor.may_review(doc["snapshot"]["provider_id"]):
            raise Forbidden("only the provider's reviewers change its exercises", code="forbidden")
        if doc["state"] == "withdrawn":
            raise Gone(f"exercise {eid} was withdrawn", code="exercise-withdrawn")
        return doc

    async def _append(self, snap: ExerciseSnapshot, state: str, event: Any) -> None:
        vid = version_id(snap.id, snap.version)
        change = self.outbox.change(EXERCISES, {vid: [event]}, abandon_on=(VersionTaken,))
        async with change:
            await self.store.append(snap.id, snap.version, state, snap.model_dump(mode="json"), change)

    async def _append_or_conflict(self, snap: ExerciseSnapshot, state: str, event: Any) -> None:
        try:
            await self._append(snap, state, event)
        except VersionTaken:
            raise Conflict(f"exercise {snap.id} changed meanwhile; reload and retry", code="exercise-stale") from None


def _same(stored: dict[str, Any], snap: ExerciseSnapshot) -> bool:
    fresh = snap.model_dump(mode="json")
    return {k: v for k, v in stored.items() if k != "published_at"} == {
        k: v for k, v in fresh.items() if k != "published_at"
    }


def _now() -> datetime:
    return datetime.now(UTC)
