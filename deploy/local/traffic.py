"""Synthetic traffic of a realistic day: the demo's week of views (``demo.py``), the benchmarks' load and the
exactness tests' traffic. Dev tooling, not part of the service (it only builds beacons as clients send them).

Shape: a diurnal curve of Beijing time (night trough, morning class peak 9-11, afternoon 14-16, evening
homework peak 19-21), Zipf popularity over resources (a few hot lessons, a long tail), a province mix
weighted by population of school age (with Guangxi high, as in the 2022 reports), a share of anonymous
visitors, a little traffic from abroad, and a share of beacons retried by clients (same event id).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common.reference import BEIJING_OFFSET_MS, PROVINCES, country_of_province
from viewstats.domain.beacon import SECTIONS, View

HOURLY = [
    0.6,
    0.3,
    0.2,
    0.2,
    0.3,
    0.8,
    2.0,
    4.0,
    6.5,
    7.5,
    7.5,
    6.0,
    4.0,
    4.5,
    6.5,
    7.0,
    6.0,
    4.5,
    4.5,
    6.5,
    7.0,
    5.5,
    3.0,
    1.4,
]
PROVINCE_WEIGHT = {code: 1.0 for code in PROVINCES} | {
    "44": 6.0,
    "37": 5.0,
    "41": 5.5,
    "51": 4.0,
    "32": 4.0,
    "13": 4.0,
    "45": 5.5,
    "43": 3.5,
    "42": 3.0,
    "34": 3.0,
    "33": 3.0,
    "35": 2.0,
    "36": 2.5,
    "53": 2.5,
    "52": 2.5,
    "61": 2.5,
    "62": 2.0,
    "54": 0.2,
    "63": 0.3,
    "64": 0.4,
    "71": 0.05,
    "81": 0.1,
    "82": 0.05,
}
ABROAD = ["US", "JP", "KR", "SG", "MY", "GB", "DE", "AU", "CA", "FR", "TH", "RU", "NZ", "IT", "VN"]


class TrafficGenerator:
    def __init__(
        self,
        *,
        resources: int = 5000,
        visitors: int = 200_000,
        anonymous_share: float = 0.35,
        abroad_share: float = 0.01,
        duplicate_share: float = 0.02,
        zipf_s: float = 1.1,
        seed: int = 1,
    ) -> None:
        self.rng = random.Random(seed)
        self.resources = [f"res-{i:06d}" for i in range(resources)]
        sections = sorted(SECTIONS)
        self.section_of = {
            r: sections[(i * 7) % len(sections)] if i % 3 else "course_teaching" for i, r in enumerate(self.resources)
        }
        weights = [1 / (i + 1) ** zipf_s for i in range(resources)]
        self._res_cum = _cumulative(weights)
        self._prov = list(PROVINCE_WEIGHT)
        self._prov_cum = _cumulative(list(PROVINCE_WEIGHT.values()))
        self._hour_cum = _cumulative(HOURLY)
        self.visitors = visitors
        self.anonymous_share = anonymous_share
        self.abroad_share = abroad_share
        self.duplicate_share = duplicate_share

    def beacon(self, day: date) -> dict[str, Any]:
        rng = self.rng
        hour = rng.choices(range(24), cum_weights=self._hour_cum)[0]
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(milliseconds=BEIJING_OFFSET_MS)
        t = start + timedelta(hours=hour, seconds=rng.random() * 3600)
        resource = rng.choices(self.resources, cum_weights=self._res_cum)[0]
        v = rng.randrange(self.visitors)
        item: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "resource_id": resource,
            "section": self.section_of[resource],
            "client": rng.choice(("web", "web", "android", "ios", "harmony", "mini_program")),
            "time": int(t.timestamp() * 1000),
        }
        if rng.random() < self.anonymous_share:
            item["visitor_id"] = f"v{v}"
        else:
            item["user_id"] = f"u{v}"
        if rng.random() < self.abroad_share:
            item["country"] = rng.choice(ABROAD)
        else:
            item["province"] = rng.choices(self._prov, cum_weights=self._prov_cum)[0]
        return item

    def day(self, day: date, n: int) -> Iterator[dict[str, Any]]:
        """``n`` distinct beacons of ``day`` plus client retries (copies with the same event id, sent
        shortly after the original)."""
        pending: list[dict[str, Any]] = []
        for _ in range(n):
            item = self.beacon(day)
            yield item
            if self.rng.random() < self.duplicate_share:
                pending.append(item)
            if len(pending) > 20:
                yield pending.pop(0)
        yield from pending

    def views(self, day: date, n: int) -> Iterator[View]:
        """``n`` distinct views of ``day`` plus client retries, as the collector accepted them and in time order,
        minute by minute: a whole day at full size (89.97 million views) streams without being held or sorted,
        for the benchmark's replayed day. Same distributions as :meth:`beacon`; event ids are a random prefix
        and a counter (distinct by construction, and about five times cheaper than random UUIDs)."""
        rng = self.rng
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) - 8 * 3_600_000
        prefix = str(uuid.UUID(int=rng.getrandbits(128), version=4))[:24]
        total, done, made = sum(HOURLY), 0.0, 0
        clients = ("web", "web", "android", "ios", "harmony", "mini_program")
        retried: list[View] = []
        for minute in range(24 * 60):
            done += n * HOURLY[minute // 60] / total / 60
            k = round(done) - made if minute < 24 * 60 - 1 else n - made
            at = midnight + minute * 60_000
            resources = rng.choices(self.resources, cum_weights=self._res_cum, k=k)
            provinces = rng.choices(self._prov, cum_weights=self._prov_cum, k=k)
            for ms, resource, province in zip(
                sorted(rng.choices(range(60_000), k=k)), resources, provinces, strict=True
            ):
                v = rng.randrange(self.visitors)
                visitor = f"anon:v{v}" if rng.random() < self.anonymous_share else f"u{v}"
                abroad = rng.random() < self.abroad_share
                view = View(
                    f"{prefix}{made:012x}",
                    resource,
                    self.section_of[resource],
                    visitor,
                    None if abroad else province,
                    rng.choice(ABROAD) if abroad else country_of_province(province),
                    rng.choice(clients),
                    at + ms,
                )
                made += 1
                yield view
                if rng.random() < self.duplicate_share:
                    retried.append(view)
                if len(retried) > 20:
                    yield retried.pop(0)
        yield from retried


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out
