from fastapi import APIRouter, Request

from common import access
from common.problems import Problem
from recommender.domain.candidates import Candidate

router = APIRouter(prefix="/v1", tags=["candidates"])


@router.get("/candidates/{resource_id}", response_model=Candidate, summary="A resource in the candidate pool")
@access.public(note="mirrors the public catalog")
async def get_candidate(resource_id: str, request: Request) -> Candidate:
    candidate = await request.app.state.candidates.get(resource_id)
    if candidate is None:
        raise Problem(
            404, "Not a candidate", f"resource {resource_id} is not in the candidate pool", code="candidate-not-found"
        )
    return candidate
