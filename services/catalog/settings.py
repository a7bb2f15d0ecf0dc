"""Settings of the catalog service (env prefix ``CATALOG_``)."""

from __future__ import annotations

import socket

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    replica_id: str = Field(
        default_factory=socket.gethostname,
        description="Suffix of this replica's own consumer groups (every replica reads the whole topic).",
    )
    detail_max_age_seconds: int = Field(60, ge=0, description="Cache-Control max-age of public resource detail.")
    search_heap_bytes: int = Field(200_000_000, ge=30_000_000, description="Tantivy writer heap.")
    import_chunk: int = Field(2000, ge=1, description="Resources per bulk write during an import.")
    import_max_body_bytes: int = Field(
        64 * 1_048_576,
        ge=1024,
        description="Largest body of POST /v1/import (JSONL, read whole before it is imported; deploy/local/demo.py "
        "sends 10,000 lines, ≤ 9 MiB); every other route has HTTP_MAX_BODY_BYTES.",
    )
    writes_wait_seconds: float = Field(
        5.0,
        ge=0,
        description="How long an editorial write or import waits for the start-up load of the editorial heads "
        "before it is answered 503 with Retry-After.",
    )
