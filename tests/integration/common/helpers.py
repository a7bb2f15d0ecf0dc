from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from common.contracts.catalog import PublishedResource, ResourcePublished


def published(resource_id: str | None = None, title: str = "分数的加法和减法") -> ResourcePublished:
    now = datetime.now(UTC)
    rid = resource_id or f"res-{uuid.uuid4().hex[:12]}"
    resource = PublishedResource(
        id=rid,
        external_id=f"ext-{rid}",
        version=1,
        kind="video_lesson",
        title=title,
        section="course_teaching",
        stages=["primary"],
        grades=[5],
        subjects=["math"],
        provider_kind="publisher",
        provider_id="pep",
        license="CC-BY-NC",
        created_at=now,
        published_at=now,
        updated_at=now,
    )
    return ResourcePublished(resource=resource, cursor=f"c-{rid}")


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 30, every: float = 0.2) -> object:  # noqa: ASYNC109 - a polling deadline, not a cancel scope
    """Poll until ``check`` returns something truthy; fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: object = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last value {last!r})")
