"""A check-in submission's outbox entry holds nothing of its event (the document says it all): the event a sweep
derives from the stored document, after a crash, is the one the relay sends from memory, field for field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import bson
import pytest
from bson.codec_options import CodecOptions

from classgroups.store.checkins import SUBMISSION_EVENT_FIELDS, submission_entry, submission_event
from common.contracts.classgroups import CheckinMedia, CheckinReviewed, CheckinSubmitted

pytestmark = pytest.mark.unit

AS_STORED = CodecOptions(tz_aware=True, tzinfo=UTC)  # what the store's client reads back
OF = {"task_id": "t-1", "class_id": "cls-0123456789abcdef", "student_id": "u-1"}  # whose check-in


def _submission() -> tuple[dict, CheckinSubmitted]:
    now = datetime(2026, 12, 2, 7, 30, 15, 123000, tzinfo=UTC)  # milliseconds, as the handler keeps them
    media = [
        CheckinMedia(
            key="checkins/cls-0123456789abcdef/t-1/u-1/a.jpg", kind="photo", content_type="image/jpeg", size=1234
        )
    ]
    doc = {
        "_id": "t-1:u-1:2026-12-02:v2",
        **OF,
        "submitted_by": "u-9",
        "day": "2026-12-02",
        "version": 2,
        "timeliness": "late",
        "text": "扫地、擦桌子",
        "media": [m.model_dump() for m in media],
        "submitted_at": now,
    }
    event = CheckinSubmitted(
        submission_id=doc["_id"],
        **OF,
        submitted_by="u-9",
        day=date(2026, 12, 2),
        version=2,
        timeliness="late",
        media=media,
        submitted_at=now,
    )
    return doc, event


def test_the_event_read_back_from_the_stored_document_is_the_one_sent_from_memory() -> None:
    doc, event = _submission()
    entry = {"id": "e-1", "type": event.TYPE, "data": submission_entry(event), "p": "p-1"}
    assert entry["data"] == {}  # nothing of the event is stored twice
    stored = bson.decode(bson.encode({**doc, "outbox": [entry]}), AS_STORED)
    # what a sweep reads: the event's fields, not the child's text
    swept = {"_id": stored["_id"], "outbox": stored["outbox"], **{k: stored[k] for k in SUBMISSION_EVENT_FIELDS}}
    assert submission_event(swept, swept["outbox"][0]) == event


def test_an_entry_stored_whole_still_reads_as_it_is() -> None:
    doc, event = _submission()
    whole = {"id": "e-1", "type": event.TYPE, "data": event.model_dump(mode="json"), "p": "p-1"}
    assert submission_event(doc, whole) == event
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    review = CheckinReviewed(submission_id=doc["_id"], **OF, reviewer_id="u-7", action="like", reviewed_at=at)
    entry = {"id": "e-2", "type": review.TYPE, "data": submission_entry(review), "p": "p-2"}
    assert submission_event(doc, entry) == review
