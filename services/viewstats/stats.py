"""The view statistics the query API answers (``api.py`` is its HTTP side): totals, series, rates, top lists,
breakdowns, year-on-year growth and unique visitors, summed over the partition shards at query time. Every answer
carries ``as_of``: the time of the aggregator's last completed flush in this process (or, when the aggregator runs
elsewhere, of the query), so a dashboard shows how fresh the numbers are."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common.errors import DomainError, Forbidden, Invalid
from common.reference import BEIJING, BEIJING_ZONE_NAME
from viewstats.domain.counters import OTHER_RESOURCES, local_minute, minute_label
from viewstats.domain.uniques import LG_K, merged_estimate
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore

MAX_BUCKETS = 1500
MAX_DAYS = 1000
# Statistics begin with the platform: dates outside these years are refused as invalid (a 422 naming the field),
# before any date arithmetic can leave the calendar (year 1 minus a day, year 9999 plus one).
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
# Titles of the top lists are read from the store once per resource and kept this long (a dashboard asks for the
# same ten every few seconds; FerretDB scans the resources to find them): a new title shows within this.
TITLE_SECONDS = 300.0
TITLES_KEPT = 10_000


def _titled(kind: type[DomainError], title: str) -> type[DomainError]:
    """A domain error of ``kind`` whose problem keeps this API's own title (what it answered before the split)."""
    return type(title.title().replace(" ", ""), (kind,), {"title": title})


RangeTooLong = _titled(Invalid, "Range too long")
EmptyRange = _titled(Invalid, "Empty range")
BadRange = _titled(Invalid, "Bad range")
OneScope = _titled(Invalid, "One scope")
MinuteDataExpired = _titled(Invalid, "Minute data expired")
NotKeptByMinute = _titled(Invalid, "Not kept by minute")
OutsideRegion = _titled(Forbidden, "Outside your region")


def beijing(t: datetime) -> datetime:
    """Naive Beijing wall time; a naive input already is."""
    return t.astimezone(BEIJING).replace(tzinfo=None) if t.tzinfo else t


def buckets(granularity: str, start: datetime, end: datetime) -> list[str]:
    step = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}[granularity]
    out, t = [], start
    while t <= end:
        label = minute_label(int(t.replace(tzinfo=UTC).timestamp()) // 60)  # t is Beijing wall time
        out.append(label["mhd".index(granularity)])
        t += step
        if len(out) > MAX_BUCKETS:
            raise RangeTooLong(f"At most {MAX_BUCKETS} buckets per query.", code="range-too-long")
    return out


def _year_before(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


class ViewStats:
    def __init__(self, settings: ViewstatsSettings, store: ViewStore, freshness: Callable[[], int]) -> None:
        """``freshness``: the time (ms) of the aggregator's last completed flush in this process, 0 if none."""
        self.settings = settings
        self.store = store
        self.freshness = freshness
        self.parts = settings.partitions
        self._titles: dict[str, tuple[float, str | None]] = {}  # resource id → (kept until, title)

    def as_of(self) -> str:
        ms = self.freshness() or int(time.time() * 1000)
        return datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="seconds")

    @staticmethod
    def today() -> date:
        return date.fromisoformat(minute_label(local_minute(int(time.time() * 1000)))[2])

    async def day_counts(self, days: list[str], dim: str = "all", value: str = "all") -> dict[str, int]:
        return {d: c[value] for d, c in (await self.store.counts("d", days, dim, self.parts)).items()}

    async def totals(self, start: date | None, end: date | None) -> dict[str, Any]:
        """All-time, today, and the views of a range (default: the 30 days to today) with its daily average and peak."""
        end = end or self.today()
        start = start or max(EARLIEST, end - timedelta(days=29))
        if start > end:
            raise EmptyRange("start is after end.", code="empty-range")
        if (end - start).days >= MAX_DAYS:
            raise RangeTooLong(f"At most {MAX_DAYS} days.", code="range-too-long")
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        per_day = await self.day_counts(days)
        all_time = (await self.store.counts("d", ["total"], "all", self.parts))["total"]["all"]
        today = self.today()
        yesterday, last_year = today - timedelta(days=1), _year_before(today)
        near = await self.day_counts([d.isoformat() for d in (today, yesterday, last_year)])
        today_n = near[today.isoformat()]
        peak_day = max(per_day, key=lambda d: per_day[d]) if per_day else None
        return {
            "all_time": all_time,
            "today": today_n,
            # whole days, for "today against yesterday and the same day last year" (同比)
            "yesterday": {"day": yesterday.isoformat(), "views": near[yesterday.isoformat()]},
            "same_day_last_year": {"day": last_year.isoformat(), "views": near[last_year.isoformat()]},
            "range": {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "views": sum(per_day.values()),
                "daily_average": round(sum(per_day.values()) / len(days), 1),
                "peak_day": peak_day,
                "peak_views": per_day.get(peak_day, 0) if peak_day else 0,
            },
            "as_of": self.as_of(),
        }

    async def platform_series(self, granularity: str, labels: list[str]) -> dict[str, Counter[str]]:
        """Label → {"all": views} of minutes (hours) from the hour (day) documents' minute (hour) maps, or, for an
        hour (day) whose map does not add up to its total (counted before the documents had one), from the minute
        (hour) documents."""
        parent, cut = {"m": ("h", 13), "h": ("d", 10)}[granularity]
        sums = await self.store.sub_buckets(parent, list(dict.fromkeys(b[:cut] for b in labels)), self.parts)
        out: dict[str, Counter[str]] = {}
        older = []
        for b in labels:
            total, by_part = sums[b[:cut]]
            if sum(by_part.values()) == total:
                out[b] = Counter(all=by_part[b[-2:]])
            else:
                older.append(b)
        if older:
            out |= await self.store.counts(granularity, older, "all", self.parts)
        return out

    async def series(
        self, granularity: str, start: datetime | None, end: datetime | None, dim: str = "all", value: str = "all"
    ) -> dict[str, Any]:
        """Views per bucket of ``dim`` = ``value`` (the platform's with "all"), Beijing time; default range: the
        last hour (minutes), day (hours) or 30 days (days)."""
        if dim == "res" and granularity == "m":
            raise NotKeptByMinute(
                "Views of a resource are kept by hour and by day; use granularity h or d.",
                code="granularity-unavailable",
            )
        now = datetime.fromtimestamp(local_minute(int(time.time() * 1000)) * 60, UTC).replace(tzinfo=None)
        end = beijing(end) if end else now
        span = {"m": timedelta(hours=1), "h": timedelta(days=1), "d": timedelta(days=30)}[granularity]
        start = beijing(start) if start else end - span
        # Inputs lie in 2000-2099; a default start or the Beijing shift just outside reads empty buckets.
        retention = self.settings.minute_retention_days
        if granularity == "m" and dim != "all" and start < now - timedelta(days=retention):
            raise MinuteDataExpired(
                f"Views by section, province or country per minute are kept {retention} days; use granularity h or d.",
                code="granularity-unavailable",
            )
        labels = buckets(granularity, start, end)
        if granularity in "mh" and dim == "all":
            counts = await self.platform_series(granularity, labels)
        else:
            counts = await self.store.counts(granularity, labels, dim, self.parts)
        return {
            "granularity": granularity,
            "timezone": BEIJING_ZONE_NAME,
            "points": [{"t": b, "views": counts[b][value]} for b in labels],
            "as_of": self.as_of(),
        }

    async def rate(self, minute: str | None) -> dict[str, Any]:
        """Views per second over one minute (default: the last complete minute)."""
        label = minute or minute_label(local_minute(int(time.time() * 1000)) - 1)[0]
        views = (await self.platform_series("m", [label]))[label]["all"]
        return {"minute": label, "views": views, "per_second": round(views / 60, 2), "as_of": self.as_of()}

    async def top(self, window: str, at: str | None, n: int) -> dict[str, Any]:
        """The ``n`` most viewed resources of a day or an hour (default: the current one)."""
        g = "d" if window == "day" else "h"
        label = at or minute_label(local_minute(int(time.time() * 1000)))["mhd".index(g)]
        counts = (await self.store.counts(g, [label], "res", self.parts))[label]
        counts.pop(OTHER_RESOURCES, None)  # the views past a shard's cap are no resource's
        top = counts.most_common(n)
        titles = await self.titles([r for r, _ in top])
        return {
            "window": window,
            "at": label,
            "resources": [{"resource_id": r, "title": titles.get(r), "views": v} for r, v in top],
            "as_of": self.as_of(),
        }

    async def titles(self, resource_ids: list[str]) -> dict[str, str]:
        """The catalog's titles of these resources (none for one published before titles were recorded)."""
        now = time.monotonic()
        missing = [r for r in resource_ids if self._titles.get(r, (0.0, None))[0] <= now]
        if missing:
            found = await self.store.resource_titles(missing)
            if len(self._titles) > TITLES_KEPT:
                self._titles.clear()
            self._titles |= {r: (now + TITLE_SECONDS, found.get(r)) for r in missing}
        return {r: t for r in resource_ids if (t := self._titles[r][1])}

    async def breakdown(self, dim: str, day: date | None, allowed: set[str] | None) -> dict[str, Any]:
        """Views of a day by province ("prov") or country ("cty"); ``allowed``: the provinces the caller may see
        (None: all of them, a ministry admin)."""
        label = (day or self.today()).isoformat()
        counts: Counter[str] = (await self.store.counts("d", [label], dim, self.parts))[label]
        if dim == "prov" and allowed:
            counts = Counter({p: n for p, n in counts.items() if p in allowed})
        elif dim == "prov" and allowed is not None:
            raise OutsideRegion("No province admin role of a province.", code="outside-region")
        elif allowed is not None:
            raise OutsideRegion("Country breakdown is ministry-wide.", code="outside-region")
        return {"day": label, "views": dict(counts.most_common()), "as_of": self.as_of()}

    async def growth(self, start: date, end: date, province: str | None) -> dict[str, Any]:
        """Views of a range (of the platform, or of a province) against the same dates a year earlier (同比)."""
        if (end - start).days > 366 or start > end:
            raise BadRange("start ≤ end, at most 366 days.", code="bad-range")
        days = [(start + timedelta(days=i)) for i in range((end - start).days + 1)]
        dim, value = ("prov", province) if province else ("all", "all")
        now_n = sum((await self.day_counts([d.isoformat() for d in days], dim, value)).values())
        before = sum((await self.day_counts([_year_before(d).isoformat() for d in days], dim, value)).values())
        return {
            "views": now_n,
            "views_year_before": before,
            "growth": round((now_n - before) / before, 4) if before else None,
            "as_of": self.as_of(),
        }

    async def uniques(self, day: date | None, resource: str | None, province: str | None) -> dict[str, Any]:
        """Unique visitors of a day (HLL estimate) of the platform, a resource or a province."""
        if resource and province:
            raise OneScope("Give a resource or a province, not both.", code="one-scope")
        kind, value = ("res", resource) if resource else ("prov", province) if province else ("all", "all")
        label = (day or self.today()).isoformat()
        blobs = await self.store.sketches(label, kind, value, self.parts)
        return {
            "day": label,
            "scope": kind,
            "value": value,
            "unique_visitors": merged_estimate(blobs, LG_K[kind]) if blobs else 0,
            "as_of": self.as_of(),
        }
