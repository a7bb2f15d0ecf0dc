"""HTTP of the query API (the answers are computed by :class:`viewstats.stats.ViewStats`).

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

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator

from common import access
from common.auth import MINISTRY_ADMIN, Principal, require_role
from common.problems import Problem
from common.reference import PROVINCES, province_of_org
from viewstats.stats import EARLIEST, LATEST, OutsideRegion, ViewStats

DIMENSION_PARAM = {"resource": "res", "section": "sec", "province": "prov", "country": "cty"}
PROVINCE_ADMIN = "province_admin"
admin = require_role(PROVINCE_ADMIN, MINISTRY_ADMIN, any_scope=True)


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
        raise OutsideRegion("Province admins see their own province only.", code="outside-region")


def build_router(stats: ViewStats) -> APIRouter:
    router = APIRouter(prefix="/v1/stats", tags=["statistics"])

    @router.get("/totals", summary="All-time, today, daily average and peak day over a range")
    @access.public()
    async def totals(start: Day | None = None, end: Day | None = None) -> dict[str, Any]:
        return await stats.totals(start, end)

    @router.get("/series", summary="Platform views per minute, hour or day")
    @access.public()
    async def series(
        granularity: Literal["m", "h", "d"] = "h", start: Moment | None = None, end: Moment | None = None
    ) -> dict[str, Any]:
        return await stats.series(granularity, start, end)

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
        return await stats.series(granularity, start, end, DIMENSION_PARAM[dimension], value)

    @router.get("/rate", summary="Views per second over one minute (default: the last complete minute)")
    @access.public()
    async def rate(
        minute: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$", description="Beijing time."),
    ) -> dict[str, Any]:
        return await stats.rate(_label(minute, "%Y-%m-%dT%H:%M", "query.minute") if minute else None)

    @router.get("/top", summary="Top-N resources of a day or an hour (热门资源)")
    @access.public()
    async def top(
        window: Literal["day", "hour"] = "day",
        at: str | None = Query(
            None, pattern=f"{DAY_LABEL}|{HOUR_LABEL}", description="YYYY-MM-DD (day) or YYYY-MM-DDTHH (hour)."
        ),
        n: int = Query(10, ge=1, le=100),
    ) -> dict[str, Any]:
        if at is not None:
            _label(at, "%Y-%m-%d" if window == "day" else "%Y-%m-%dT%H", "query.at")
        return await stats.top(window, at, n)

    @router.get("/provinces", summary="Views per province of a day")
    @access.role("province_admin", access.MINISTRY, note="a province admin sees their own province only")
    async def provinces(day: Day | None = None, who: Principal = Depends(admin)) -> dict[str, Any]:
        return await stats.breakdown("prov", day, allowed_provinces(who))

    @router.get("/countries", summary="Views per country or region of a day")
    @access.role(access.MINISTRY)
    async def countries(day: Day | None = None, who: Principal = Depends(admin)) -> dict[str, Any]:
        return await stats.breakdown("cty", day, allowed_provinces(who))

    @router.get("/growth", summary="Views of a range against the same dates a year earlier (同比)")
    @access.role("province_admin", access.MINISTRY, target="query.province", note="without a province: ministry")
    async def growth(
        start: Day,
        end: Day,
        province: str | None = Query(None, pattern=VALUE),
        who: Principal = Depends(admin),
    ) -> dict[str, Any]:
        _require_province(who, province)
        return await stats.growth(start, end, province)

    @router.get("/uniques", summary="Unique visitors of a day (HLL estimate, ±1-7 %)")
    @access.role("province_admin", access.MINISTRY, target="query.province", note="without a province: ministry")
    async def uniques(
        day: Day | None = None,
        resource: str | None = Query(None, pattern=VALUE),
        province: str | None = Query(None, pattern=VALUE),
        who: Principal = Depends(admin),
    ) -> dict[str, Any]:
        _require_province(who, province)
        return await stats.uniques(day, resource, province)

    return router


def dashboard_router(identity_url: str | None = None) -> APIRouter:
    """The public dashboard page. Its administrators sign in at identity (``identity_url``, as browsers reach it):
    the page posts to identity's own login and sends the token it gets to the province figures."""
    router = APIRouter(tags=["dashboard"])
    config = {
        "identity": identity_url.rstrip("/") if identity_url else None,
        "provinces": {code: p.short for code, p in PROVINCES.items()} | {"none": "未知 unknown"},
    }
    # the JSON goes inside a <script>: no "</" may end it early
    page = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")
    page = page.replace('/*CONFIG*/{"identity": null, "provinces": {}}', json.dumps(config).replace("</", "<\\/"))

    @router.get("/dashboard", response_class=HTMLResponse, summary="Live dashboard (auto-refresh)")
    @access.public()
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page)

    return router
