"""Query API of view statistics. Every answer carries ``as_of``: the time of the aggregator's last completed
flush in this process (or, when the aggregator runs elsewhere, of the query), so a dashboard shows how fresh
the numbers are. Counts are summed over the partition shards at query time.

Access: platform-wide totals, the platform series and the top-N lists are public (the platform publishes
them). Breakdowns by province/country/section/resource are province figures: a ministry admin sees them all, a
province admin (``province_admin@cn/<province>``) only their own province's series, views and unique visitors.
City, county and school admins see no breakdown (403): the counters go no finer than the province, and a
province's figures are not a school's business. They see the public figures like everyone.

Every parameter is bounded: dates and times between 2000 and 2099, at most ``MAX_BUCKETS`` buckets (1,500)
per query and ``MAX_DAYS`` days of totals, labels and values of the shapes the counters use; anything else is a
422 problem naming the field, never a 500.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator

from common import access
from common.auth import MINISTRY_ADMIN, Principal, require_role
from common.problems import Problem
from common.reference import BEIJING, BEIJING_ZONE_NAME, province_of_org
from viewstats.domain.counters import OTHER_RESOURCES, local_minute, minute_label
from viewstats.domain.uniques import LG_K, merged_estimate
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore

DIMENSION_PARAM = {"resource": "res", "section": "sec", "province": "prov", "country": "cty"}
MAX_BUCKETS = 1500
MAX_DAYS = 1000
PROVINCE_ADMIN = "province_admin"
admin = require_role(PROVINCE_ADMIN, MINISTRY_ADMIN, any_scope=True)
# Statistics begin with the platform: dates outside these years are refused as invalid (a 422 naming the field),
# before any date arithmetic can leave the calendar (year 1 minus a day, year 9999 plus one).
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def _bounded_date(d: date) -> date:
    if not EARLIEST <= d <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return d


def _bounded_time(t: datetime) -> datetime:
    _bounded_date(t.date())
    return t


Day = Annotated[date, AfterValidator(_bounded_date)]
Moment = Annotated[datetime, AfterValidator(_bounded_time)]
VALUE = r"^[A-Za-z0-9_\-]{1,64}$"  # resource ids (as beacons carry them), section, province and country codes
HOUR_LABEL, DAY_LABEL = r"^\d{4}-\d{2}-\d{2}T\d{2}$", r"^\d{4}-\d{2}-\d{2}$"


def _label(text: str, fmt: str, field: str) -> str:
    """A bucket label that parses as a time of the counters' range (422 naming ``field`` otherwise)."""
    try:
        _bounded_date(datetime.strptime(text, fmt).date())
    except ValueError as exc:
        raise Problem(
            422,
            "Invalid parameter",
            f"{field}: {exc}",
            code="validation-failed",
            errors=[{"field": field, "message": str(exc), "code": "invalid"}],
        ) from None
    return text


def allowed_provinces(who: Principal) -> set[str] | None:
    """None: everything (a ministry admin); else the provinces of the caller's province-admin roles (a role
    scoped exactly to ``cn/<province>``). Other admins hold none: they see no province figures."""
    if who.is_ministry_admin:
        return None
    provinces = (province_of_org(scope, exact=True) for scope in who.scopes_of(PROVINCE_ADMIN))
    return {p for p in provinces if p is not None}


def _require_province(who: Principal, province: str | None) -> None:
    allowed = allowed_provinces(who)
    if allowed is not None and province not in allowed:
        raise Problem(403, "Outside your region", "Province admins see their own province only.", code="outside-region")


def _beijing(t: datetime) -> datetime:
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
            raise Problem(422, "Range too long", f"At most {MAX_BUCKETS} buckets per query.", code="range-too-long")
    return out


def build_router(settings: ViewstatsSettings, store: ViewStore, freshness: Any) -> APIRouter:
    router = APIRouter(prefix="/v1/stats", tags=["statistics"])
    parts = settings.partitions

    def as_of() -> str:
        ms = freshness() or int(time.time() * 1000)
        return datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="seconds")

    def today() -> date:
        return date.fromisoformat(minute_label(local_minute(int(time.time() * 1000)))[2])

    async def day_counts(days: list[str], dim: str = "all", value: str = "all") -> dict[str, int]:
        return {d: c[value] for d, c in (await store.counts("d", days, dim, parts)).items()}

    @router.get("/totals", summary="All-time, today, daily average and peak day over a range")
    @access.public()
    async def totals(start: Day | None = None, end: Day | None = None) -> dict[str, Any]:
        end = end or today()
        start = start or max(EARLIEST, end - timedelta(days=29))
        if start > end:
            raise Problem(422, "Empty range", "start is after end.", code="empty-range")
        if (end - start).days >= MAX_DAYS:
            raise Problem(422, "Range too long", f"At most {MAX_DAYS} days.", code="range-too-long")
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        per_day = await day_counts(days)
        all_time = (await store.counts("d", ["total"], "all", parts))["total"]["all"]
        today_n = (await day_counts([today().isoformat()]))[today().isoformat()]
        peak_day = max(per_day, key=lambda d: per_day[d]) if per_day else None
        return {
            "all_time": all_time,
            "today": today_n,
            "range": {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "views": sum(per_day.values()),
                "daily_average": round(sum(per_day.values()) / len(days), 1),
                "peak_day": peak_day,
                "peak_views": per_day.get(peak_day, 0) if peak_day else 0,
            },
            "as_of": as_of(),
        }

    async def platform_series(granularity: str, labels: list[str]) -> dict[str, Counter[str]]:
        """Label → {"all": views} of minutes (hours) from the hour (day) documents' minute (hour) maps, or, for an
        hour (day) whose map does not add up to its total (counted before the documents had one), from the minute
        (hour) documents."""
        parent, cut = {"m": ("h", 13), "h": ("d", 10)}[granularity]
        sums = await store.sub_buckets(parent, list(dict.fromkeys(b[:cut] for b in labels)), parts)
        out: dict[str, Counter[str]] = {}
        older = []
        for b in labels:
            total, by_part = sums[b[:cut]]
            if sum(by_part.values()) == total:
                out[b] = Counter(all=by_part[b[-2:]])
            else:
                older.append(b)
        if older:
            out |= await store.counts(granularity, older, "all", parts)
        return out

    @router.get("/series", summary="Platform views per minute, hour or day")
    @access.public()
    async def series(
        granularity: Literal["m", "h", "d"] = "h", start: Moment | None = None, end: Moment | None = None
    ) -> dict[str, Any]:
        return await _series(granularity, start, end, "all", "all")

    async def _series(
        granularity: str, start: datetime | None, end: datetime | None, dim: str, value: str
    ) -> dict[str, Any]:
        now = datetime.fromtimestamp(local_minute(int(time.time() * 1000)) * 60, UTC).replace(tzinfo=None)
        end = _beijing(end) if end else now
        span = {"m": timedelta(hours=1), "h": timedelta(days=1), "d": timedelta(days=30)}[granularity]
        start = _beijing(start) if start else end - span
        # Inputs lie in 2000-2099 (``Moment``); a default start or the Beijing shift just outside reads empty buckets.
        if granularity == "m" and dim != "all" and start < now - timedelta(days=settings.minute_retention_days):
            raise Problem(
                422,
                "Minute data expired",
                f"Views by section, province or country per minute are kept {settings.minute_retention_days} days; "
                "use granularity h or d.",
                code="granularity-unavailable",
            )
        labels = buckets(granularity, start, end)
        if granularity in "mh" and dim == "all":
            counts = await platform_series(granularity, labels)
        else:
            counts = await store.counts(granularity, labels, dim, parts)
        return {
            "granularity": granularity,
            "timezone": BEIJING_ZONE_NAME,
            "points": [{"t": b, "views": counts[b][value]} for b in labels],
            "as_of": as_of(),
        }

    @router.get("/series/{dimension}/{value}", summary="Views of one resource/section/province/country")
    @access.role(
        "province_admin",
        access.MINISTRY,
        target="path.value",
        note="dimension province: admins of that province; resource, section, country: ministry",
    )
    async def series_by(
        dimension: Literal["resource", "section", "province", "country"],
        value: str = PathParam(pattern=VALUE),
        granularity: Literal["m", "h", "d"] = "h",
        start: Moment | None = None,
        end: Moment | None = None,
        who: Principal = Depends(admin),
    ) -> dict[str, Any]:
        _require_province(who, value if dimension == "province" else None)
        if dimension == "resource" and granularity == "m":
            raise Problem(
                422,
                "Not kept by minute",
                "Views of a resource are kept by hour and by day; use granularity h or d.",
                code="granularity-unavailable",
            )
        return await _series(granularity, start, end, DIMENSION_PARAM[dimension], value)

    @router.get("/rate", summary="Views per second over one minute (default: the last complete minute)")
    @access.public()
    async def rate(
        minute: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$", description="Beijing time."),
    ) -> dict[str, Any]:
        label = _label(minute, "%Y-%m-%dT%H:%M", "query.minute") if minute else None
        label = label or minute_label(local_minute(int(time.time() * 1000)) - 1)[0]
        views = (await platform_series("m", [label]))[label]["all"]
        return {"minute": label, "views": views, "per_second": round(views / 60, 2), "as_of": as_of()}

    @router.get("/top", summary="Top-N resources of a day or an hour (热门资源)")
    @access.public()
    async def top(
        window: Literal["day", "hour"] = "day",
        at: str | None = Query(
            None, pattern=f"{DAY_LABEL}|{HOUR_LABEL}", description="YYYY-MM-DD (day) or YYYY-MM-DDTHH (hour)."
        ),
        n: int = Query(10, ge=1, le=100),
    ) -> dict[str, Any]:
        g = "d" if window == "day" else "h"
        if at is not None:
            _label(at, "%Y-%m-%d" if g == "d" else "%Y-%m-%dT%H", "query.at")
        label = at or minute_label(local_minute(int(time.time() * 1000)))["mhd".index(g)]
        counts = (await store.counts(g, [label], "res", parts))[label]
        counts.pop(OTHER_RESOURCES, None)  # the views past a shard's cap are no resource's
        return {
            "window": window,
            "at": label,
            "resources": [{"resource_id": r, "views": v} for r, v in counts.most_common(n)],
            "as_of": as_of(),
        }

    async def breakdown(dim: str, day: Day | None, who: Principal) -> dict[str, Any]:
        label = (day or today()).isoformat()
        counts: Counter[str] = (await store.counts("d", [label], dim, parts))[label]
        allowed = allowed_provinces(who)
        if dim == "prov" and allowed:
            counts = Counter({p: n for p, n in counts.items() if p in allowed})
        elif dim == "prov" and allowed is not None:
            raise Problem(403, "Outside your region", "No province admin role of a province.", code="outside-region")
        elif allowed is not None:
            raise Problem(403, "Outside your region", "Country breakdown is ministry-wide.", code="outside-region")
        return {"day": label, "views": dict(counts.most_common()), "as_of": as_of()}

    @router.get("/provinces", summary="Views per province of a day")
    @access.role("province_admin", access.MINISTRY, note="a province admin sees their own province only")
    async def provinces(day: Day | None = None, who: Principal = Depends(admin)) -> dict[str, Any]:
        return await breakdown("prov", day, who)

    @router.get("/countries", summary="Views per country or region of a day")
    @access.role(access.MINISTRY)
    async def countries(day: Day | None = None, who: Principal = Depends(admin)) -> dict[str, Any]:
        return await breakdown("cty", day, who)

    @router.get("/growth", summary="Views of a range against the same dates a year earlier (同比)")
    @access.role("province_admin", access.MINISTRY, target="query.province", note="without a province: ministry")
    async def growth(
        start: Day,
        end: Day,
        province: str | None = Query(None, pattern=VALUE),
        who: Principal = Depends(admin),
    ) -> dict[str, Any]:
        _require_province(who, province)
        if (end - start).days > 366 or start > end:
            raise Problem(422, "Bad range", "start ≤ end, at most 366 days.", code="bad-range")

        def shift(d: date) -> date:
            try:
                return d.replace(year=d.year - 1)
            except ValueError:  # 29 February
                return d.replace(year=d.year - 1, day=28)

        days = [(start + timedelta(days=i)) for i in range((end - start).days + 1)]
        dim, value = ("prov", province) if province else ("all", "all")
        now_n = sum((await day_counts([d.isoformat() for d in days], dim, value)).values())
        before = sum((await day_counts([shift(d).isoformat() for d in days], dim, value)).values())
        return {
            "views": now_n,
            "views_year_before": before,
            "growth": round((now_n - before) / before, 4) if before else None,
            "as_of": as_of(),
        }

    @router.get("/uniques", summary="Unique visitors of a day (HLL estimate, ±1-7 %)")
    @access.role("province_admin", access.MINISTRY, target="query.province", note="without a province: ministry")
    async def uniques(
        day: Day | None = None,
        resource: str | None = Query(None, pattern=VALUE),
        province: str | None = Query(None, pattern=VALUE),
        who: Principal = Depends(admin),
    ) -> dict[str, Any]:
        _require_province(who, province)
        if resource and province:
            raise Problem(422, "One scope", "Give a resource or a province, not both.", code="one-scope")
        kind, value = ("res", resource) if resource else ("prov", province) if province else ("all", "all")
        label = (day or today()).isoformat()
        blobs = await store.sketches(label, kind, value, parts)
        return {
            "day": label,
            "scope": kind,
            "value": value,
            "unique_visitors": merged_estimate(blobs, LG_K[kind]) if blobs else 0,
            "as_of": as_of(),
        }

    return router


def dashboard_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    page = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")

    @router.get("/dashboard", response_class=HTMLResponse, summary="Live dashboard (auto-refresh)")
    @access.public()
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page)

    return router
