"""A user's learning profile, as the recommender uses it: what a new student chose (grade, textbook versions,
subjects, province) or a teacher's subjects and grades. Identity's events carry no such attributes today (only
account kinds, roles and schools), so the user sets them here; no personal data (codes only)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Grade = Annotated[int, Field(ge=1, le=12)]
Code = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/-]+$")]


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grade: int | None = Field(None, ge=1, le=12, description="A student's grade; unset for teachers.")
    grades: list[Grade] = Field([], max_length=12, description="A teacher's grades.")
    subjects: list[Code] = Field([], max_length=20, description="Subject codes, e.g. math.")
    textbook_versions: list[Code] = Field(
        [], max_length=20, description="Textbook version node ids the student learns from (教材版本)."
    )
    province: str | None = Field(None, pattern=r"^\d{2}$", description="GB/T 2260 province code, e.g. 43.")
