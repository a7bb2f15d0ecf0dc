"""The province an offered event is about, for the province scoping of feeds (pure rules in
``identity.domain.subscribers``; this module looks things up).

- a catalog resource: its local channel's province (``local_channel``), else national;
- a class's events: the province of its school, learned from its ``ClassCreated`` (or, for an online class, its
  owner's school); a course's from its ``CoursePublished``. Check-ins and courses are on other topics than
  ``ClassCreated``, with no order between topics: an event whose class is not known yet falls back to the next rule;
- a learning event (and that fallback): the province of the first account it names whose school (or, failing that,
  the org of one of its roles) is known, from identity's own accounts (org paths only). An event whose province
  stays unknown goes to national subscribers only (a replay after the class is known routes it to its province).
Learned places are kept in the store (``feedplaces``) and in a bounded memory."""

from __future__ import annotations

from collections import OrderedDict

from common.contracts import catalog, classgroups
from common.messaging import Envelope
from common.reference import province_of_org
from identity.domain.subscribers import ACCOUNT_ID
from identity.store.accounts import AccountStore
from identity.store.subscribers import SubscriberStore

_MEMORY = 200_000


class Scope:
    def __init__(self, subscribers: SubscriberStore, accounts: AccountStore) -> None:
        self._store = subscribers
        self._accounts = accounts
        self._known: OrderedDict[str, str | None] = OrderedDict()

    async def province(self, env: Envelope) -> tuple[str | None, bool]:
        """(province code or None, whether it is a catalog local channel)."""
        e = env.event
        if isinstance(e, catalog.ResourcePublished):
            return e.resource.local_channel, e.resource.local_channel is not None
        if isinstance(e, catalog.ResourceWithdrawn):
            return None, False  # the withdrawal carries no channel: every catalog subscriber deletes its copy
        if isinstance(e, classgroups.ClassCreated):
            p = province_of_org(e.school) or (await self.account(e.owner_id) if e.owner_id else None)
            return await self._learn(f"class:{e.class_id}", p), False
        if isinstance(e, classgroups.CoursePublished):
            return await self._learn(f"course:{e.course_id}", province_of_org(e.school_id)), False
        for attr, place in (("class_id", "class"), ("course_id", "course")):
            if (value := getattr(e, attr, None)) is not None and (p := await self._place(f"{place}:{value}")):
                return p, False
        # a learning event, or a class event read before its ClassCreated (another topic: no order between them):
        # the accounts it names, in order (the learner, then teachers)
        for account_id in dict.fromkeys(ACCOUNT_ID.findall(e.model_dump_json())):
            if p := await self.account(account_id):
                return p, False
        return None, False

    async def account(self, user_id: str) -> str | None:
        key = f"account:{user_id}"
        if key in self._known:
            return self._known[key]
        school, orgs = await self._accounts.orgs_of(user_id)
        provinces = [p for p in map(province_of_org, [school, *orgs]) if p]
        return self._keep(key, provinces[0] if provinces else None)

    async def _learn(self, place: str, province: str | None) -> str | None:
        if province is not None:
            await self._store.remember_place(place, province)
        return self._keep(place, province)

    async def _place(self, place: str) -> str | None:
        if place in self._known:
            return self._known[place]
        return self._keep(place, await self._store.place(place))

    def _keep(self, key: str, province: str | None) -> str | None:
        if province is None:  # not known yet (an account may join a school later): asked again next time
            return None
        self._known[key] = province
        self._known.move_to_end(key)
        while len(self._known) > _MEMORY:
            self._known.popitem(last=False)
        return province
