"""REST of learning hours (学时) and certificates.

- ``/v1/learning/courses/{id}``: a course's credit hours and required watch time (public);
- ``/v1/learning/me/…``: the signed-in teacher's progress on a course, hours per year against the
  360-hours-in-5-years rule, and the PDF of their certificates;
- ``/v1/learning/teachers/{user}/hours``: the same hours for a ministry-wide admin;
- ``/v1/certificates/{number}``: anyone checks a certificate number; the answer names the course, the hours and
  the year, never the holder.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from common import access
from common.auth import MINISTRY_ADMIN, Principal, require_principal, require_role
from common.problems import Problem
from viewstats.domain.certificate import certificate_pdf
from viewstats.domain.learning import (
    BEIJING,
    CERTIFICATE_ID_PATTERN,
    CYCLE_YEARS,
    Progress,
    credit_year,
    cycle_status,
    progress_id,
    required_seconds,
)
from viewstats.settings import ViewstatsSettings
from viewstats.store import LearningStore

RESOURCE_ID = Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="Resource (course) id.")
CERTIFICATE_ID = Path(pattern=CERTIFICATE_ID_PATTERN, description="Certificate number, e.g. SE-1A2B-3C4D-5E6F-7A8B.")


class CourseOut(BaseModel):
    resource_id: str
    title: str | None
    credit_hours: float
    required_seconds: int = Field(description="Watch time that finishes the course: credit hours × 45 min.")


class ProgressOut(BaseModel):
    resource_id: str
    watched_seconds: int
    required_seconds: int | None = Field(description="None when the resource is not a known course.")
    credited: bool
    certificate_id: str | None


class CreditOut(BaseModel):
    resource_id: str
    hours: float
    year: int
    certificate_id: str


class CycleOut(BaseModel):
    first_year: int
    last_year: int
    hours: float
    required: float
    met: bool
    missing: float


class HoursOut(BaseModel):
    hours_by_year: dict[int, float] = Field(description="Credited study hours per calendar year (Beijing time).")
    cycle: CycleOut = Field(description="The 5-year window ending this year against the 360-hour rule.")
    credits: list[CreditOut]
    as_of: datetime


class VerificationOut(BaseModel):
    certificate_id: str
    valid: bool
    course_id: str | None = None
    course_title: str | None = None
    hours: float | None = None
    year: int | None = None
    issued_on: date | None = None


def build_router(settings: ViewstatsSettings, store: LearningStore) -> APIRouter:
    router = APIRouter(tags=["learning hours"])
    ministry = require_role(MINISTRY_ADMIN)

    @router.get("/v1/learning/courses/{resource_id}", summary="A course's credit hours (学时) and required time")
    @access.public()
    async def course(resource_id: str = RESOURCE_ID) -> CourseOut:
        found = (await store.courses([resource_id])).get(resource_id)
        if found is None or not found.credits:
            raise Problem(404, "Not a course", "No published course with credit hours has this id.", code="no-course")
        return CourseOut(
            resource_id=resource_id,
            title=found.title,
            credit_hours=found.credit_hours,
            required_seconds=required_seconds(found.credit_hours),
        )

    @router.get("/v1/learning/me/courses/{resource_id}", summary="The caller's watch time on a course")
    @access.signed_in()
    async def my_progress(resource_id: str = RESOURCE_ID, who: Principal = Depends(require_principal)) -> ProgressOut:
        pid = progress_id(who.subject, resource_id)
        progress = (await store.progress([pid])).get(pid) or Progress(pid, who.subject, resource_id)
        found = (await store.courses([resource_id])).get(resource_id)
        return ProgressOut(
            resource_id=resource_id,
            watched_seconds=progress.seconds,
            required_seconds=required_seconds(found.credit_hours) if found and found.credit_hours else None,
            credited=bool(progress.certificate_id),
            certificate_id=progress.certificate_id,
        )

    async def hours_of(user_id: str) -> HoursOut:
        credits = sorted(
            (
                CreditOut(resource_id=c.resource_id, hours=c.hours, year=c.year, certificate_id=c.certificate_id)
                for c in await store.credits(user_id)
            ),
            key=lambda c: (c.year, c.certificate_id),
        )
        by_year: dict[int, float] = defaultdict(float)
        for c in credits:
            by_year[c.year] += c.hours
        now = datetime.now(UTC)
        status = cycle_status(by_year, credit_year(now))
        return HoursOut(
            hours_by_year={y: round(h, 2) for y, h in sorted(by_year.items())},
            cycle=CycleOut(
                first_year=min(status.hours_by_year),
                last_year=max(status.hours_by_year),
                hours=status.total,
                required=status.required,
                met=status.met,
                missing=status.missing,
            ),
            credits=credits,
            as_of=now,
        )

    @router.get("/v1/learning/me/hours", summary=f"The caller's study hours per year and over {CYCLE_YEARS} years")
    @access.signed_in()
    async def my_hours(who: Principal = Depends(require_principal)) -> HoursOut:
        return await hours_of(who.subject)

    @router.get("/v1/learning/teachers/{user_id}/hours", summary="A teacher's study hours (ministry admins)")
    @access.role(MINISTRY_ADMIN)
    async def teacher_hours(
        user_id: str = Path(pattern=r"^[A-Za-z0-9_\-:]{1,128}$"), who: Principal = Depends(ministry)
    ) -> HoursOut:
        return await hours_of(user_id)

    @router.get(
        "/v1/learning/me/certificates/{certificate_id}/pdf",
        summary="Download one of the caller's e-certificates (电子证书) as PDF",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
    )
    @access.signed_in(note="only the holder; another holder's number answers 404")
    async def my_certificate(
        certificate_id: str = CERTIFICATE_ID, who: Principal = Depends(require_principal)
    ) -> Response:
        cert = await store.certificate(certificate_id)
        if cert is None or cert.user_id != who.subject:  # another teacher's number: as if it did not exist
            raise Problem(
                404, "No such certificate", "You hold no certificate with this number.", code="no-certificate"
            )
        pdf = certificate_pdf(
            certificate_id,
            cert.user_id,
            cert.resource_id,
            cert.hours,
            _issued_on(cert.at),
            title=cert.title,
            verify_url=f"{settings.public_base_url.rstrip('/')}/v1/certificates/",
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{certificate_id}.pdf"'},
        )

    @router.get("/v1/certificates/{certificate_id}", summary="Verify a certificate number (public, no holder data)")
    @access.public(note="names the course, hours and year, never the holder")
    async def verify(certificate_id: str = CERTIFICATE_ID) -> VerificationOut:
        cert = await store.certificate(certificate_id)
        if cert is None:
            return VerificationOut(certificate_id=certificate_id, valid=False)
        return VerificationOut(
            certificate_id=certificate_id,
            valid=True,
            course_id=cert.resource_id,
            course_title=cert.title,
            hours=cert.hours,
            year=cert.year,
            issued_on=_issued_on(cert.at),
        )

    return router


def _issued_on(at: datetime) -> date:
    return at.astimezone(BEIJING).date()
