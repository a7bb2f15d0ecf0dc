"""A service's business figures as Prometheus reads them: its ``/metrics`` page parsed by prometheus_client's own
parser (what a scrape sees, not the in-process registry), so a test can say by how much a counter rose, under which
label values, between two reads."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def read_counter(client: httpx.AsyncClient, name: str) -> dict[str, float]:
    """The samples of counter ``name`` (its ``_total`` name) on the ``/metrics`` page ``client`` answers, keyed by
    the value of its one label ('' for an unlabelled counter)."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == name:
                assert len(sample.labels) <= 1, sample  # business figures have one bounded label
                found[next(iter(sample.labels.values()), "")] = sample.value
    assert found, f"{name} is not exported"
    return found


def rise(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What rose between two reads, by label value (labels that did not move are left out)."""
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


class Figure:
    """One counter of one service, read before and after an action: ``await fig.mark()`` then
    ``assert await fig.rise() == {"student": 2}`` (exactly those label values, by exactly that much)."""

    def __init__(self, client: httpx.AsyncClient, name: str) -> None:
        self.client, self.name = client, name
        self.base: dict[str, float] = {}

    async def mark(self) -> Figure:
        self.base = await read_counter(self.client, self.name)
        return self

    async def rise(self) -> dict[str, float]:
        return rise(self.base, await read_counter(self.client, self.name))

    async def values(self) -> dict[str, Any]:
        return await read_counter(self.client, self.name)
