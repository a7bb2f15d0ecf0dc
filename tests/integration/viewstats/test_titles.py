"""The catalog's titles in viewstats: the catalog consumer (``Ledger.on_catalog``) records each published
resource with its title, a republication with a new title replaces it without making the resource new to the
aggregator's listing (read by first publication time), and the top lists name resources by title."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.messaging import Envelope
from tests.integration.common.helpers import published
from viewstats.learning import Ledger
from viewstats.store import LearningStore, ViewStore

pytestmark = pytest.mark.integration


def envelope(event) -> Envelope:
    return Envelope(event, "id", event.TYPE, "/catalog", datetime.now(UTC), None, event.key(), "t", 0, 0, {})


async def test_the_catalog_feed_records_titles_and_a_new_title_replaces_the_old(scratch) -> None:
    db = scratch["db"]
    ledger = Ledger(LearningStore(db), None, b"key")  # no course here: the outbox is never written
    first = [published("res-a", title="分数的意义"), published("res-b", title="小数的加法")]
    await ledger.on_catalog([envelope(e) for e in first])
    after_first = datetime.now(UTC)
    retitled = published("res-a", title="分数的意义（第二版）")
    await ledger.on_catalog([envelope(retitled), envelope(published("res-c", title="认识图形"))])

    views = ViewStore(db)
    assert await views.resource_titles(["res-a", "res-b", "res-c", "res-unknown"]) == {
        "res-a": "分数的意义（第二版）",
        "res-b": "小数的加法",
        "res-c": "认识图形",
    }
    # the listing reads ids by their first publication: the retitled one is not new to it
    assert await views.listed_resources(after_first) == {"res-c"}
    assert await views.listed_resources() == {"res-a", "res-b", "res-c"}
