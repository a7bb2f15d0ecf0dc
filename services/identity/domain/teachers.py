"""Teacher real-name verification (教师实名认证) against the national teacher management information system
(全国教师管理信息系统). The registry is reached through :class:`identity.registry.TeacherRegistry` (an HTTP
adapter); this module only judges its answer.

Only verified teachers hold the ``teacher`` role (scoped to the school the registry lists): classgroups lets
only them head an administrative class, viewstats credits training hours (学时) only to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RegistryAnswer:
    found: bool
    name_matches: bool
    school_code: str | None = None
    """The platform school code (``school-<digits>``) the registry lists the teacher at."""
    status: str | None = None  # "active" | "retired" | …


def judge(answer: RegistryAnswer, known_school: str | None) -> tuple[Literal["verified", "rejected"], str | None]:
    """(outcome, reason). ``known_school`` is the org path of the registry's school in our tree, if any."""
    if not answer.found:
        return "rejected", "not_found"
    if not answer.name_matches:
        return "rejected", "name_mismatch"
    if answer.status not in (None, "active"):
        return "rejected", "not_active"
    if known_school is None:
        return "rejected", "unknown_school"
    return "verified", None
