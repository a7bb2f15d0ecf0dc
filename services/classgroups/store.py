"""The class groups' store: every query and every document mapping of the service.

Collections (``_id`` scheme):

  accounts     ``<user id>``                    the directory, learned from identity's events
  links        ``<child id>:<guardian id>``     guardian links (identity's GuardianLinked)
  classes      ``<class id>``                   the class (outbox source)
  members      ``<class id>:<account id>``      a membership and its status (outbox source)
  claims       ``adm:<school>:<year>:<student>`` the one administrative class of a student per school and year:
                                                inserted before the membership, atomic on FerretDB as on MongoDB
  codes        ``<code>``                       join codes of online classes (deleted when revoked)
  throttle     ``<counter>:<n>``                slots of the join-code failure limit
  announcements ``ann-<uuid>``                  class announcements (outbox source)
  reads        ``<announcement id>:<account>``  read receipts (insert = read, idempotent)
  leaves       ``lv-<uuid>``                    leave requests with their history (outbox source)
  evaluations  ``ev-<uuid>``                    evaluation records, insert only (outbox source)
  calls        ``<class>:<round>:<student>``    roll calls (the insert is the call: no repeat in a round)
  polls        ``poll-<uuid>``                  quick polls; ``votes`` ``<poll>:<voter>`` one ballot each
  transitions  ``<collection>:<id>:<version>``  the one writer of a document's next version (while it writes)

FerretDB applies an update as read–modify–write (``../shared/infra-notes.md``), so every concurrency rule rests on
unique inserts: a class, a membership or a leave request moves from one version to the next only after the
transition ``transitions/<collection>:<id>:<version>`` was claimed by an insert (one writer per version, across
replicas); a student's one administrative class per school year is a claim document; join-code failures are
slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from classgroups.domain.announcements import Announcement, Read
from classgroups.domain.classes import ClassGroup, Membership
from classgroups.domain.codes import ClassCode
from classgroups.domain.directory import Account, Grant
from classgroups.domain.evaluation import Evaluation, Evidence
from classgroups.domain.interaction import Poll
from classgroups.domain.leaves import LeaveRequest, Step
from common.contracts import Event
from common.outbox import Outbox
from common.store import insert_new

OUTBOX_SOURCES = ("classes", "members", "announcements", "leaves", "evaluations")
TAKEOVER = timedelta(seconds=60)  # a transition claimed this long ago whose update never came: its writer died


def declare_outbox(outbox: Outbox) -> None:
    for collection in OUTBOX_SOURCES:
        outbox.source(collection, projection=())


class Stale(Exception):
    """Another writer changed the document first (its version moved on)."""


class ClassGroupsStore:
    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    # --- outbox plumbing ---------------------------------------------------------------------------------
    async def insert_announced(self, collection: str, docs: list[dict[str, Any]], events: dict[str, list]) -> set[str]:
        """Insert ``docs``, each with its events; returns the ``_id``s that existed already (nothing written for
        them, and their events are not published)."""
        change = self.outbox.change(collection, {k: v for k, v in events.items() if v})
        for doc in docs:
            doc["outbox"] = change.entries(doc["_id"])
        await change.announce()
        existed = {docs[i]["_id"] for i in await insert_new(self.db[collection], docs)}
        if len(existed) == len(docs):
            await change.abandon()
        else:
            change.commit(unwritten=existed)
        return existed

    async def update_announced(
        self, collection: str, doc_id: str, version: int, fields: dict[str, Any], events: Sequence[Event]
    ) -> None:
        """Set ``fields`` (and ``v`` to ``version + 1``) if the document is still at ``version``, pushing ``events``
        into its outbox in the same update; :class:`Stale` otherwise.

        FerretDB evaluates the ``v`` condition and writes without a transaction, so two concurrent updates from
        ``version`` could both "win". The transition is therefore claimed first, by a unique insert of
        ``<collection>:<id>:<version>`` (atomic on both stores): one writer per version, on every replica; the
        claim is deleted once the update is done (a later writer from the same version then fails the condition).
        """
        col = self.db[collection]
        claim = await self._claim_transition(col, collection, doc_id, version)
        try:
            update: dict[str, Any] = {"$set": {**fields, "v": version + 1}}
            change = None
            if events:  # (a collection that publishes nothing is no outbox source)
                await self._prune(col, doc_id)
                change = self.outbox.change(collection, {doc_id: list(events)})
                update["$push"] = {"outbox": {"$each": change.entries(doc_id)}}
                await change.announce()
            result = await col.update_one({"_id": doc_id, "v": version}, update)
            if not result.modified_count:
                if change is not None:
                    await change.abandon()
                raise Stale(doc_id)
            if change is not None:
                change.commit()
        finally:
            await self.db["transitions"].delete_one({"_id": claim})

    async def _claim_transition(self, col: Any, collection: str, doc_id: str, version: int) -> str:
        claim = f"{collection}:{doc_id}:{version}"
        at = datetime.now(UTC)
        if not await insert_new(self.db["transitions"], [{"_id": claim, "at": at}]):
            return claim
        held = await self.db["transitions"].find_one({"_id": claim})
        doc = await col.find_one({"_id": doc_id}, {"v": 1})
        if held is not None and doc is not None and doc.get("v") == version and at - _aware(held["at"]) > TAKEOVER:
            # its writer died between the claim and the update (the document is still at that version): take over
            await self.db["transitions"].delete_one({"_id": claim, "at": held["at"]})
            if not await insert_new(self.db["transitions"], [{"_id": claim, "at": at}]):
                return claim
        raise Stale(doc_id)

    async def _prune(self, col: Any, doc_id: str) -> None:
        """Drop the entries already published from a document updated in place (it would grow with each change);
        ``$pullAll`` of the very entries read (FerretDB's ``$pull`` with a condition matches nothing)."""
        doc = await col.find_one({"_id": doc_id}, {"outbox": 1})
        entries = (doc or {}).get("outbox") or []
        pending = {e["p"] for e in await self.outbox.unpublished(entries)}
        done = [e for e in entries if e["p"] not in pending]
        if done:
            await col.update_one({"_id": doc_id}, {"$pullAll": {"outbox": done}})

    # --- the directory -----------------------------------------------------------------------------------
    async def account(self, user_id: str) -> Account | None:
        doc = await self.db["accounts"].find_one({"_id": user_id})
        return _account(doc) if doc else None

    async def accounts(self, ids: Iterable[str]) -> dict[str, Account]:
        ids = list(dict.fromkeys(ids))
        out: dict[str, Account] = {}
        for i in range(0, len(ids), 500):
            async for doc in self.db["accounts"].find({"_id": {"$in": ids[i : i + 500]}}):
                out[doc["_id"]] = _account(doc)
        return out

    async def put_account(self, account: Account) -> None:
        # One writer per account: the consumer of the partition its user id is keyed to.
        await self.db["accounts"].replace_one({"_id": account.id}, _account_doc(account), upsert=True)

    async def link(self, child: str, guardian: str, at: datetime) -> None:
        await insert_new(
            self.db["links"], [{"_id": f"{child}:{guardian}", "child": child, "guardian": guardian, "at": at}]
        )

    async def is_guardian(self, guardian: str, child: str) -> bool:
        return await self.db["links"].find_one({"_id": f"{child}:{guardian}"}, {"_id": 1}) is not None

    async def children_of(self, guardian: str) -> list[str]:
        return [d["child"] async for d in self.db["links"].find({"guardian": guardian}, {"child": 1})]

    # --- classes ----------------------------------------------------------------------------------------
    async def create_class(self, cls: ClassGroup, events: list[Event]) -> None:
        await self.insert_announced("classes", [_class_doc(cls)], {cls.id: events})

    async def save_class(self, before: ClassGroup, after: ClassGroup, events: list[Event]) -> None:
        fields = {k: v for k, v in _class_doc(after).items() if k not in ("_id", "v")}
        await self.update_announced("classes", after.id, before.version, fields, events)

    async def get_class(self, class_id: str) -> ClassGroup | None:
        doc = await self.db["classes"].find_one({"_id": class_id})
        return _class(doc) if doc else None

    async def classes(self, ids: Iterable[str]) -> list[ClassGroup]:
        return [_class(d) async for d in self.db["classes"].find({"_id": {"$in": list(ids)}})]

    async def classes_of_school(self, school: str, school_year: int | None) -> list[ClassGroup]:
        query: dict[str, Any] = {"school": school}
        if school_year is not None:
            query["school_year"] = school_year
        return [_class(d) async for d in self.db["classes"].find(query).sort("_id", 1)]

    async def classes_taught_by(self, teacher: str) -> list[ClassGroup]:
        query = {"$or": [{"head_teacher": teacher}, {"owner": teacher}, {"subject_teachers.teacher": teacher}]}
        return [_class(d) async for d in self.db["classes"].find(query)]

    # --- memberships -------------------------------------------------------------------------------------
    async def membership(self, class_id: str, account_id: str) -> Membership | None:
        doc = await self.db["members"].find_one({"_id": f"{class_id}:{account_id}"})
        return _membership(doc) if doc else None

    async def members(self, class_id: str, status: str | None = "active") -> list[Membership]:
        query: dict[str, Any] = {"class_id": class_id}
        if status:
            query["status"] = status
        return [_membership(d) async for d in self.db["members"].find(query).sort("_id", 1)]

    async def memberships_of(self, account_id: str) -> list[Membership]:
        cursor = self.db["members"].find({"account_id": account_id, "status": "active"})
        return [_membership(d) async for d in cursor]

    async def add_memberships(self, memberships: list[Membership]) -> set[str]:
        """Insert new memberships; returns the account ids that already had a membership document."""
        docs = [_membership_doc(m) for m in memberships]
        existed = await self.insert_announced(
            "members", docs, {d["_id"]: list(m.events) for d, m in zip(docs, memberships, strict=True)}
        )
        return {i.split(":", 1)[1] for i in existed}

    async def save_membership(self, before: Membership | None, after: Membership) -> None:
        """The membership's next state: inserted if there was none (:class:`Stale` if another writer was first)."""
        if before is None:
            if await self.add_memberships([after]):
                raise Stale(f"{after.class_id}:{after.account_id}")
            return
        doc = _membership_doc(after)
        fields = {k: doc[k] for k in ("status", "via", "since")}
        await self.update_announced("members", doc["_id"], before.version, fields, list(after.events))

    # --- the one administrative class of a student per school and school year ---------------------------
    async def claim_places(self, cls: ClassGroup, students: list[str]) -> dict[str, str]:
        """Claim each student's place for ``cls``; returns, for students whose place was claimed already, the
        class holding it (``cls.id`` itself when an earlier import of the same roster claimed it)."""
        docs = [{"_id": _claim_id(cls, s), "class_id": cls.id, "student": s} for s in students]
        taken = await insert_new(self.db["claims"], docs)
        if not taken:
            return {}
        ids = [docs[i]["_id"] for i in taken]
        held = {d["_id"]: d["class_id"] async for d in self.db["claims"].find({"_id": {"$in": ids}})}
        return {docs[i]["student"]: held.get(docs[i]["_id"], "?") for i in taken}

    async def release_place(self, cls: ClassGroup, student: str) -> None:
        await self.db["claims"].delete_one({"_id": _claim_id(cls, student), "class_id": cls.id})

    # --- announcements and read receipts -----------------------------------------------------------------
    async def post_announcement(self, a: Announcement, events: list[Event]) -> None:
        doc = {"_id": a.id, "class_id": a.class_id, "author": a.author, "title": a.title, "body": a.body}
        await self.insert_announced("announcements", [{**doc, "at": a.posted_at}], {a.id: events})

    async def announcements(self, class_id: str) -> list[Announcement]:
        cursor = self.db["announcements"].find({"class_id": class_id}, {"outbox": 0}).sort("at", -1)
        return [_announcement(d) async for d in cursor]

    async def announcement(self, announcement_id: str) -> Announcement | None:
        doc = await self.db["announcements"].find_one({"_id": announcement_id}, {"outbox": 0})
        return _announcement(doc) if doc else None

    async def mark_read(self, read: Read) -> bool:
        """Record a reading; False when the reader had read it already (the first reading stays)."""
        doc = {"_id": f"{read.announcement_id}:{read.reader}", "ann": read.announcement_id, "reader": read.reader}
        return not await insert_new(self.db["reads"], [{**doc, "students": list(read.students), "at": read.at}])

    async def reads(self, announcement_ids: Iterable[str]) -> list[Read]:
        cursor = self.db["reads"].find({"ann": {"$in": list(announcement_ids)}})
        return [Read(d["ann"], d["reader"], tuple(d["students"]), d["at"]) async for d in cursor]

    # --- leave requests -----------------------------------------------------------------------------------
    async def add_leave(self, leave: LeaveRequest, events: list[Event]) -> None:
        await self.insert_announced("leaves", [_leave_doc(leave)], {leave.id: events})

    async def save_leave(self, before: LeaveRequest, after: LeaveRequest, events: list[Event]) -> None:
        doc = _leave_doc(after)
        await self.update_announced(
            "leaves", after.id, before.version, {k: doc[k] for k in ("status", "history")}, events
        )

    async def leave(self, leave_id: str) -> LeaveRequest | None:
        doc = await self.db["leaves"].find_one({"_id": leave_id}, {"outbox": 0})
        return _leave(doc) if doc else None

    async def leaves(
        self,
        *,
        class_id: str | None = None,
        student: str | None = None,
        on: date | None = None,
        status: str | None = None,
    ) -> list[LeaveRequest]:
        query: dict[str, Any] = {}
        if class_id:
            query["class_id"] = class_id
        if student:
            query["student"] = student
        if status:
            query["status"] = status
        if on is not None:  # ISO dates compare as strings
            query |= {"first_day": {"$lte": on.isoformat()}, "last_day": {"$gte": on.isoformat()}}
        return [_leave(d) async for d in self.db["leaves"].find(query, {"outbox": 0}).sort("_id", 1)]

    # --- evaluations --------------------------------------------------------------------------------------
    async def add_evaluation(self, e: Evaluation, events: list[Event]) -> None:
        evidence = {"kind": e.evidence.kind, "id": e.evidence.id} if e.evidence else None
        doc = {"_id": e.id, "class_id": e.class_id, "student": e.student, "teacher": e.teacher, "dim": e.dimension}
        doc |= {"points": e.points, "comment": e.comment, "evidence": evidence, "term": e.term, "at": e.at}
        await self.insert_announced("evaluations", [doc], {e.id: events})

    async def evaluations(
        self, *, term: str, class_id: str | None = None, student: str | None = None
    ) -> list[Evaluation]:
        query: dict[str, Any] = {"term": term}
        if class_id:
            query["class_id"] = class_id
        if student:
            query["student"] = student
        cursor = self.db["evaluations"].find(query, {"outbox": 0}).sort("at", 1)
        return [_evaluation(d) async for d in cursor]

    # --- classroom interaction ----------------------------------------------------------------------------
    async def calls(self, class_id: str) -> list[tuple[int, str]]:
        return [(d["round"], d["student"]) async for d in self.db["calls"].find({"class_id": class_id})]

    async def call(self, class_id: str, round_: int, student: str, by: str, at: datetime) -> bool:
        """Claim the call of ``student`` in ``round_``; False when someone called them in this round already."""
        doc = {"_id": f"{class_id}:{round_}:{student}", "class_id": class_id, "round": round_, "student": student}
        return not await insert_new(self.db["calls"], [{**doc, "by": by, "at": at}])

    async def add_poll(self, poll: Poll) -> None:
        await insert_new(self.db["polls"], [_poll_doc(poll)])

    async def poll(self, poll_id: str) -> Poll | None:
        doc = await self.db["polls"].find_one({"_id": poll_id})
        return _poll(doc) if doc else None

    async def save_poll(self, before: Poll, after: Poll) -> None:
        await self.update_announced("polls", after.id, before.version, {"open": after.open}, [])

    async def vote(self, poll: Poll, voter: str, choices: list[int], at: datetime) -> bool:
        """One ballot per voter (a unique insert); False when the voter had voted."""
        doc = {"_id": f"{poll.id}:{voter}", "poll": poll.id, "voter": voter, "choices": choices, "at": at}
        return not await insert_new(self.db["votes"], [doc])

    async def votes(self, poll_id: str) -> list[tuple[str, list[int]]]:
        cursor = self.db["votes"].find({"poll": poll_id}).sort("at", 1)
        return [(d["voter"], d["choices"]) async for d in cursor]

    # --- join codes and their failure limit --------------------------------------------------------------
    async def put_code(self, code: ClassCode) -> bool:
        doc = {"_id": code.code, "class_id": code.class_id, "exp": code.expires_at, "by": code.created_by}
        return not await insert_new(self.db["codes"], [doc])

    async def code(self, code: str) -> ClassCode | None:
        doc = await self.db["codes"].find_one({"_id": code})
        return ClassCode(doc["_id"], doc["class_id"], doc["exp"], doc["by"]) if doc else None

    async def revoke_code(self, class_id: str, code: str) -> bool:
        return (await self.db["codes"].delete_one({"_id": code, "class_id": class_id})).deleted_count > 0

    async def claim_slot(self, counter: str, cap: int, expires_at: datetime) -> int | None:
        """One of ``cap`` slots of ``counter`` by a unique insert (parallel callers cannot pass the cap)."""
        for n in range(1, cap + 1):
            try:
                await self.db["throttle"].insert_one({"_id": f"{counter}:{n}", "c": counter, "exp": expires_at})
                return n
            except DuplicateKeyError:
                continue
        return None

    async def release_slot(self, counter: str, n: int) -> None:
        await self.db["throttle"].delete_one({"_id": f"{counter}:{n}"})


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _claim_id(cls: ClassGroup, student: str) -> str:
    return f"adm:{cls.school}:{cls.school_year}:{student}"


# --- document mapping -------------------------------------------------------------------------------------
def _account_doc(a: Account) -> dict[str, Any]:
    grants = [{"r": g.role, "o": g.org, "on": g.held, "at": g.at} for g in a.grants]
    return {
        "_id": a.id,
        "kind": a.kind,
        "active": a.active,
        "verified": a.verified,
        "verified_at": a.verified_at,
        "school": a.school,
        "grants": grants,
        "seen": list(a.seen),
    }


def _account(d: dict[str, Any]) -> Account:
    grants = tuple(Grant(g["r"], g["o"], g["on"], g["at"]) for g in d.get("grants", ()))
    return Account(
        d["_id"],
        d.get("kind"),
        d.get("active", True),
        d.get("verified", False),
        d.get("verified_at"),
        d.get("school"),
        grants,
        tuple(d.get("seen", ())),
    )


def _class_doc(c: ClassGroup) -> dict[str, Any]:
    return {
        "_id": c.id,
        "kind": c.kind,
        "name": c.name,
        "by": c.created_by,
        "at": c.created_at,
        "v": c.version,
        "school": c.school,
        "school_year": c.school_year,
        "grade": c.grade,
        "head_teacher": c.head_teacher,
        "subject_teachers": [{"teacher": t, "subject": s} for t, s in c.subject_teachers],
        "owner": c.owner,
        "approval": c.approval_required,
        "leave_delegate": c.leave_delegate,
    }


def _class(d: dict[str, Any]) -> ClassGroup:
    return ClassGroup(
        d["_id"],
        d["kind"],
        d["name"],
        d["by"],
        d["at"],
        d["v"],
        d.get("school"),
        d.get("school_year"),
        d.get("grade"),
        d.get("head_teacher"),
        tuple((s["teacher"], s["subject"]) for s in d.get("subject_teachers", ())),
        d.get("owner"),
        d.get("approval", False),
        d.get("leave_delegate"),
    )


def _membership_doc(m: Membership) -> dict[str, Any]:
    return {
        "_id": f"{m.class_id}:{m.account_id}",
        "class_id": m.class_id,
        "account_id": m.account_id,
        "status": m.status,
        "via": m.via,
        "since": m.since,
        "v": m.version,
    }


def _announcement(d: dict[str, Any]) -> Announcement:
    return Announcement(d["_id"], d["class_id"], d["author"], d["title"], d["body"], d["at"])


def _leave_doc(x: LeaveRequest) -> dict[str, Any]:
    history = [{"at": h.at, "action": h.action, "by": h.by, "note": h.note} for h in x.history]
    return {
        "_id": x.id,
        "class_id": x.class_id,
        "student": x.student,
        "by": x.requested_by,
        "kind": x.kind,
        "first_day": x.first_day.isoformat(),
        "last_day": x.last_day.isoformat(),
        "periods": list(x.periods),
        "reason": x.reason,
        "attachment": x.attachment,
        "status": x.status,
        "history": history,
        "v": x.version,
    }


def _leave(d: dict[str, Any]) -> LeaveRequest:
    history = tuple(Step(h["at"], h["action"], h["by"], h.get("note")) for h in d["history"])
    return LeaveRequest(
        d["_id"],
        d["class_id"],
        d["student"],
        d["by"],
        d["kind"],
        date.fromisoformat(d["first_day"]),
        date.fromisoformat(d["last_day"]),
        tuple(d["periods"]),
        d["reason"],
        d.get("attachment"),
        d["status"],
        history,
        d["v"],
    )


def _evaluation(d: dict[str, Any]) -> Evaluation:
    evidence = Evidence(d["evidence"]["kind"], d["evidence"]["id"]) if d.get("evidence") else None
    return Evaluation(
        d["_id"],
        d["class_id"],
        d["student"],
        d["teacher"],
        d["dim"],
        d["points"],
        d["comment"],
        evidence,
        d["term"],
        d["at"],
    )


def _poll_doc(p: Poll) -> dict[str, Any]:
    return {
        "_id": p.id,
        "class_id": p.class_id,
        "author": p.author,
        "question": p.question,
        "options": list(p.options),
        "multiple": p.multiple,
        "anonymous": p.anonymous,
        "open": p.open,
        "at": p.at,
        "salt": p.salt,
        "v": p.version,
    }


def _poll(d: dict[str, Any]) -> Poll:
    return Poll(
        d["_id"],
        d["class_id"],
        d["author"],
        d["question"],
        tuple(d["options"]),
        d["multiple"],
        d["anonymous"],
        d["open"],
        d["at"],
        d["salt"],
        d["v"],
    )


def _membership(d: dict[str, Any]) -> Membership:
    return Membership(d["class_id"], d["account_id"], d["status"], d["via"], d["since"], d["v"])
