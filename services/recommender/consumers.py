from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.messaging import Envelope
from common.service import ServiceKit
from recommender.domain.candidates import latest_changes
from recommender.store import CandidateStore


def register(kit: ServiceKit, candidates: CandidateStore) -> None:
    @kit.consumer(topic=ResourcePublished.TOPIC, group="recommender-catalog", batch=True, max_records=1000)
    async def on_catalog_change(envelopes: list[Envelope]) -> None:
        """Keep the candidate pool equal to the public catalog (idempotent: replays land in the same state)."""
        events = [e.event for e in envelopes if isinstance(e.event, ResourcePublished | ResourceWithdrawn)]
        await candidates.apply(*latest_changes(events))
