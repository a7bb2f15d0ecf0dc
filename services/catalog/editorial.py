"""Editorial commands on one resource: create a draft, edit, submit, publish, reject, withdraw. Each runs its
domain command on the newest revision and appends the result with its events (``CatalogStore.append``)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from catalog.domain.resource import Actor, Resource, ResourceContent, resource_id
from catalog.readmodel import ReadModel
from catalog.replica import Replica
from catalog.store import CatalogStore, RevisionConflict
from common.contracts.base import Event
from common.contracts.catalog import ProviderKind
from common.errors import Conflict, Forbidden, NotFound

Command = Callable[[Resource, datetime], list[Event]]


def now() -> datetime:
    return datetime.now(UTC)


class Editorial:
    def __init__(self, store: CatalogStore, read: ReadModel, replica: Replica) -> None:
        self.store = store
        self.read = read
        self.replica = replica
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def load(self, rid: str) -> tuple[Resource, int]:
        """The newest revision of a resource and its number."""
        entry = self.read.entries.get(rid)
        found = await self.store.latest(rid, entry.rev if entry else 0)
        if found is None:
            raise NotFound(f"resource {rid} does not exist", code="not-found")
        resource, revision = found
        self.read.note_revision(revision)
        return resource, revision.rev

    async def working(self, actor: Actor, rid: str) -> tuple[Resource, int]:
        """The working copy, for the provider's editors and reviewers."""
        resource, rev = await self.load(rid)
        if not (actor.may_edit(resource.provider_id) or actor.may_review(resource.provider_id)):
            raise Forbidden("not your provider", code="forbidden")
        return resource, rev

    async def create(
        self, actor: Actor, external_id: str, provider_kind: ProviderKind, provider_id: str, content: ResourceContent
    ) -> Resource:
        await self.replica.writable()
        rid = resource_id(provider_id, external_id)
        resource, events = Resource.create(
            id=rid,
            external_id=external_id,
            provider_kind=provider_kind,
            provider_id=provider_id,
            content=content,
            actor=actor,
            now=now(),
        )
        try:
            revision = await self.store.append(resource, 1, events)
        except RevisionConflict:
            raise Conflict(
                f"provider {provider_id} already has a resource with external id {external_id!r}",
                code="duplicate-external-id",
                resource_id=rid,
            ) from None
        self.read.note_revision(revision)
        return resource

    async def edit(self, actor: Actor, rid: str, content: ResourceContent) -> tuple[Resource, int]:
        return await self._change(rid, lambda r, at: r.edit(content, actor, at))

    async def submit(self, actor: Actor, rid: str) -> tuple[Resource, int]:
        return await self._change(rid, lambda r, at: r.submit(actor, at))

    async def publish(self, actor: Actor, rid: str) -> tuple[Resource, int]:
        return await self._change(rid, lambda r, at: r.publish(actor, at))

    async def reject(self, actor: Actor, rid: str, reason: str) -> tuple[Resource, int]:
        return await self._change(rid, lambda r, at: r.reject(actor, reason, at))

    async def withdraw(self, actor: Actor, rid: str, reason: str) -> tuple[Resource, int]:
        return await self._change(rid, lambda r, at: r.withdraw(actor, reason, at))

    async def announce_again(self, rid: str) -> bool:
        """Publish a public resource's snapshot once more (:meth:`Resource.announce_again`) as a new revision that
        changes nothing else; False when there was nothing public to announce (no revision is written then)."""
        entry = self.read.entries.get(rid)
        if entry is None or entry.public is None:
            return False
        resource, _ = await self._change(rid, lambda r, at: r.announce_again(at))
        return resource.is_public

    async def _change(self, rid: str, command: Command) -> tuple[Resource, int]:
        """Run ``command`` on the newest revision and append the result (retried when another replica appended
        first); the resource as changed and its revision number."""
        await self.replica.writable()
        async with self._locks[rid]:
            for attempt in range(3):
                resource, rev = await self.load(rid)
                events = command(resource, now())
                try:
                    # Stored with its events: the outbox relay publishes them, now or once Kafka is back.
                    revision = await self.store.append(resource, rev + 1, events)
                except RevisionConflict:
                    if attempt == 2:
                        raise Conflict(
                            "the resource changed meanwhile; retry", code="concurrent-modification"
                        ) from None
                    continue
                self.read.note_revision(revision)
                for event in events:
                    self.read.apply_event(event)
                self.read.index.commit()
                return resource, revision.rev
        raise AssertionError("unreachable")
