"""The only code touching the class groups' database: every query and every document mapping, one module of this
package per group of collections (:class:`ClassGroupsStore` holds one of each, as ``store.classes``,
``store.checkins``, ...).

Collections (``_id`` scheme), by module:

  directory.py      accounts      ``<user id>``                      the directory, learned from identity's events
                    links         ``<child id>:<guardian id>``       guardian links (identity's GuardianLinked)
  classes.py        classes       ``<class id>``                     the class (outbox source)
                    members       ``<class id>:<account id>``        a membership and its status (outbox source)
                    claims        ``adm:<school>:<year>:<student>``  the one administrative class of a student per
                                                                     school and year: inserted before the membership
  codes.py          codes         ``<code>``                         join codes of online classes (deleted when revoked)
                    throttle      ``<counter>:<n>``                  slots of the join-code failure limit
  announcements.py  announcements ``ann-<uuid>``                     class announcements (outbox source)
                    reads         ``<announcement id>:<account>``    read receipts (insert = read, idempotent)
  leaves.py         leaves        ``lv-<uuid>``                      leave requests with their history (outbox source)
  evaluations.py    evaluations   ``ev-<uuid>``                      evaluation records, insert only (outbox source)
  interaction.py    calls         ``<class>:<round>:<student>``      roll calls (the insert is the call)
                    polls         ``poll-<uuid>``                    quick polls; ``votes`` ``<poll>:<voter>`` one
                                                                     ballot each
  cache.py          (none)                                             the replica's cache of classes and memberships
  coalesce.py       (none)                                             concurrent reads of one key served by one read
  checkins.py       checkin_tasks, checkin_submissions, checkin_reviews, labour_stars (unique inserts only)
  courses.py        courses, course_ops, course_claims (unique inserts only)
  studios.py        studios, studio_members, studio_activities (outbox sources), studio_resources (unique
                    inserts), catalog (the catalog's published resources, from its feed)
  base.py           transitions   ``<collection>:<id>:<version>``    the one writer of a document's next version

Every concurrency rule rests on unique inserts (atomic on FerretDB as on MongoDB): version transitions, a
student's one administrative class per school year, join-code failure slots, ballots, calls, check-in versions,
course operations and slot claims.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from classgroups.store import checkins, courses, studios
from classgroups.store.announcements import AnnouncementStore
from classgroups.store.base import Stale
from classgroups.store.checkins import CheckinStore
from classgroups.store.classes import ClassStore
from classgroups.store.codes import CodeStore
from classgroups.store.courses import CourseStore
from classgroups.store.directory import DirectoryStore
from classgroups.store.evaluations import EvaluationStore
from classgroups.store.interaction import InteractionStore
from classgroups.store.leaves import LeaveStore
from classgroups.store.studios import StudioStore
from common.outbox import Outbox
from common.store import Store

# The collections whose documents carry outbox entries (besides the check-ins' and the courses', declared below).
OUTBOX_SOURCES = (
    "classes",
    "members",
    "announcements",
    "leaves",
    "evaluations",
    "calls",
    "polls",
    *studios.OUTBOX_SOURCES,
)


# The fields each query of these collections filters on (the check-ins' and the courses' are declared in their
# modules). For MongoDB in production: without them every such query is a collection scan of the whole platform's
# documents. FerretDB creates them but scans anyway (``../shared/infra-notes.md``).
QUERY_INDEXES: dict[str, list[list[str]]] = {
    "members": [["class_id"], ["account_id", "status"]],
    "classes": [["school", "school_year"], ["head_teacher"], ["owner"], ["subject_teachers.teacher"]],
    "links": [["guardian"]],
    "announcements": [["class_id", "at"]],
    "reads": [["ann"]],
    "leaves": [["class_id"], ["student"]],
    "evaluations": [["term", "class_id"], ["term", "student"]],
    "calls": [["class_id"]],
    "votes": [["poll", "at"]],
    "studios": [["leader"], ["areas"]],
    "studio_members": [["studio_id", "status"], ["account_id", "status"]],
    "studio_resources": [["studio_id", "at"]],
    "studio_activities": [["studio_id", "starts_at"]],
}


def declare(store: Store, outbox: Outbox) -> None:
    """The store's indexes and outbox sources. A sweep reads only a document's entries (``projection=()``):
    leave reasons, comments and check-ins hold children's text."""
    for collection in OUTBOX_SOURCES:
        outbox.source(collection, projection=())
    for collection, indexes in QUERY_INDEXES.items():
        store.declare_indexes(collection, [IndexModel([(f, ASCENDING) for f in fields]) for fields in indexes])
    checkins.declare(store, outbox)
    courses.declare(store, outbox)


class ClassGroupsStore:
    """The class groups' store, one attribute per group of collections (modules of this package)."""

    def __init__(
        self,
        db: AsyncDatabase,
        outbox: Outbox,
        class_cache_seconds: float = 0.0,
        *,
        submission_batch: int = 64,
        submission_linger: float = 0.0,
        submission_epoch: float = 0.0,
    ) -> None:
        self.db = db
        self.directory = DirectoryStore(db, outbox)  # accounts, links
        self.classes = ClassStore(db, outbox, class_cache_seconds)  # classes, members, claims (cached per replica)
        self.codes = CodeStore(db, outbox)  # codes, throttle
        self.announcements = AnnouncementStore(db, outbox)  # announcements, reads
        self.leaves = LeaveStore(db, outbox)  # leaves
        self.evaluations = EvaluationStore(db, outbox)  # evaluations
        self.interaction = InteractionStore(db, outbox)  # calls, polls, votes
        self.checkins = CheckinStore(  # checkin_tasks, checkin_submissions, checkin_reviews, labour_stars
            db,
            outbox,
            submission_batch=submission_batch,
            submission_linger=submission_linger,
            submission_epoch=submission_epoch,
        )
        self.courses = CourseStore(db, outbox)  # courses, course_ops, course_claims
        self.studios = StudioStore(db, outbox)  # studios, studio_members, studio_resources, studio_activities, catalog


__all__ = ["OUTBOX_SOURCES", "ClassGroupsStore", "Stale", "declare"]
