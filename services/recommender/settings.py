"""Settings of the recommender (env prefix ``RECOMMENDER_``)."""

from __future__ import annotations

import socket
import uuid

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


def _fresh_replica_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class RecommenderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECOMMENDER_", extra="ignore", populate_by_name=True)

    replica_id: str = Field(
        default_factory=_fresh_replica_id,
        description="Suffix of this process's own consumer groups. New at every start by default: the "
        "recommender's read models live in memory, so each start reads its topics from the beginning.",
    )
    notebook_clear_interval_days: float = Field(
        7.0,
        gt=0,
        description="A knowledge point leaves the mistake notebook when a right answer on a due review makes "
        "FSRS schedule the next review at least this many days later.",
    )
    retrain_seconds: float = Field(
        60.0, gt=0, description="How often the item-item model (implicit) is retrained in the background."
    )
    served_sample_rate: float = Field(
        0.1, ge=0, le=1, description="Share of recommendation pages announced as recommendation-served events."
    )
    finished_share: float = Field(
        0.9,
        gt=0,
        le=1,
        description="A video counts as finished once this share of its duration was watched (heartbeats).",
    )
