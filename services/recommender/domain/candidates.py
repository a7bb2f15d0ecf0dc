"""The candidate pool: the published resources the recommender may push, kept from catalog's replication
feed. Only what ranking needs is kept (no copy of the whole catalog)."""

from __future__ import annotations

from pydantic import BaseModel

from common.contracts.catalog import ResourcePublished, ResourceWithdrawn


class Candidate(BaseModel):
    resource_id: str
    version: int
    kind: str
    title: str
    section: str
    stages: list[str]
    grades: list[int]
    subjects: list[str]
    knowledge_points: list[str]
    credit_hours: float | None = None


def candidate_from(event: ResourcePublished) -> Candidate:
    r = event.resource
    return Candidate(
        resource_id=r.id,
        version=r.version,
        kind=r.kind,
        title=r.title,
        section=r.section,
        stages=r.stages,
        grades=r.grades,
        subjects=r.subjects,
        knowledge_points=r.knowledge_points,
        credit_hours=r.credit_hours,
    )


def latest_changes(events: list[ResourcePublished | ResourceWithdrawn]) -> tuple[dict[str, Candidate], set[str]]:
    """Fold a batch (in partition order) into the last word per resource: upserts and removals. A later
    event for the same resource replaces an earlier one, so a replayed batch lands in the same state."""
    upserts: dict[str, Candidate] = {}
    removals: set[str] = set()
    for event in events:
        if isinstance(event, ResourcePublished):
            upserts[event.resource.id] = candidate_from(event)
            removals.discard(event.resource.id)
        else:
            upserts.pop(event.resource_id, None)
            removals.add(event.resource_id)
    return upserts, removals
