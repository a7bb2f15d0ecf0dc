"""The course-teaching tree (课程教学): stage (学段) → grade → subject → textbook version (教材版本) → volume (册)
→ unit (单元) → lesson (课时) → the lesson's resources in order.

A textbook version here is one edition of one subject for one stage (e.g. 人教版 小学数学); its volumes each
belong to a grade, so browsing "五年级 数学" lists the versions that have a grade-5 volume. Node ids encode
their path (``tv.pep.primary.math/g5b/u4/l2``) so that a node and its ancestors are found by ``_id``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.domain.reference import STAGE_GRADES, STAGES, SUBJECTS

NodeType = Literal["textbook_version", "volume", "unit", "lesson"]


class TreeNode(BaseModel):
    """One node of the textbook tree. ``parent_id`` is None for textbook versions; ``children`` are the ids of the
    nodes under it in their order, as a replica links them (not stored, not part of the node's public form)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/-]+$")
    type: NodeType
    parent_id: str | None = None
    title: str = Field(min_length=1, max_length=200)
    order: int = Field(0, ge=0)
    stage: str
    subject: str
    grade: int | None = Field(None, description="Volumes, units and lessons belong to one grade.")
    edition: str | None = Field(None, description="Edition name of a textbook version, e.g. 人教版.")
    children: list[str] = Field(default_factory=list, exclude=True)

    def public(self) -> dict[str, Any]:
        return self.model_dump()

    def validate_reference(self) -> list[dict[str, str]]:
        """Field errors against the reference data (stage, subject, grade of the stage)."""
        errors = []
        if self.stage not in STAGES:
            errors.append({"field": "stage", "message": f"unknown stage {self.stage!r}"})
        if self.subject not in SUBJECTS:
            errors.append({"field": "subject", "message": f"unknown subject {self.subject!r}"})
        if self.grade is not None and self.grade not in STAGE_GRADES.get(self.stage, ()):
            errors.append({"field": "grade", "message": f"grade {self.grade} is not in stage {self.stage!r}"})
        if self.type == "textbook_version":
            if self.parent_id is not None:
                errors.append({"field": "parent_id", "message": "a textbook version has no parent"})
        elif self.parent_id is None:
            errors.append({"field": "parent_id", "message": f"a {self.type} needs a parent"})
        if self.type != "textbook_version" and self.grade is None:
            errors.append({"field": "grade", "message": f"a {self.type} belongs to a grade"})
        return errors
