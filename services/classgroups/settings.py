"""Settings of the class groups service (env prefix ``CLASSGROUPS_``)."""

from __future__ import annotations

import socket
import uuid

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


def _fresh_replica_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class ClassGroupsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLASSGROUPS_", extra="ignore", populate_by_name=True)

    replica_id: str = Field(
        default_factory=_fresh_replica_id,
        description="Suffix of this process's own consumer group `classgroups-cache` (every replica follows the "
        "service's class events to keep its cache of classes current). New at every start by default.",
    )
    class_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="Age after which a replica reloads a class and its memberships (in the background: the "
        "previous copy is served meanwhile). Writes and the service's own events drop an entry at once; this bounds "
        "what no event announces (a leave delegate). 0: no cache.",
    )

    code_ttl_hours: int = Field(
        72, ge=1, le=24 * 30, description="Default lifetime of an online class's join code (a teacher may ask less)."
    )
    code_max_failures: int = Field(
        10,
        ge=1,
        description="Failed join-code attempts one account may make per CODE_FAILURE_WINDOW_SECONDS; beyond, 429 "
        "(codes are 8 characters of 31: guessing one takes ~10^11 attempts).",
    )
    code_failure_window_seconds: int = Field(
        600, ge=10, description="Window of CLASSGROUPS_CODE_MAX_FAILURES (fixed windows, counted in the store)."
    )
    roster_max_rows: int = Field(2000, ge=1, description="Most rows one roster import may hold.")
    roster_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest body of a roster import (JSONL or CSV of account ids)."
    )

    # --- check-ins' media: the object store (S3 API) --------------------------------------------------------------
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias="S3_ENDPOINT_URL",
        description="S3-compatible object store of check-in media (SeaweedFS locally; any S3-compatible store in "
        "production). When set, `make run`/`make test` start no SeaweedFS. Unset: the AWS endpoint of S3_REGION.",
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        validation_alias="S3_PUBLIC_ENDPOINT_URL",
        description="The store's address as clients reach it, for presigned URLs (unset: S3_ENDPOINT_URL).",
    )
    s3_access_key_id: str | None = Field(None, validation_alias="S3_ACCESS_KEY_ID", description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(
        None, validation_alias="S3_SECRET_ACCESS_KEY", description="S3 secret access key (a Secret in Kubernetes)."
    )
    s3_region: str = Field("us-east-1", validation_alias="S3_REGION", description="Region the signatures name.")
    media_bucket: str = Field("smartedu-classgroups-media", description="Bucket of check-in photos and videos.")
    media_create_bucket: bool = Field(
        True, description="Create the bucket at start when missing (local stores; production's is made by operators)."
    )
    media_photo_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest photo a client may upload.")
    media_video_max_bytes: int = Field(200 * 1024 * 1024, ge=1024, description="Largest video a client may upload.")
    media_upload_expires_seconds: int = Field(
        900, ge=60, le=7 * 24 * 3600, description="Lifetime of a presigned upload (POST policy)."
    )
    media_view_expires_seconds: int = Field(
        600, ge=60, le=24 * 3600, description="Lifetime of the presigned GET URLs in submission listings."
    )
    submission_batch: int = Field(
        64,
        ge=1,
        le=1000,
        description="Most check-in submissions one replica writes together (one outbox pointer and one insert; "
        "concurrent requests are grouped while the previous group is being written).",
    )
    submission_linger_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="How long a group of check-in submissions waits for more before it is written (0: it goes "
        "as soon as the previous group is written; a lone request waits for no one).",
    )
    submission_epoch_ms: float = Field(
        1000.0,
        ge=0,
        le=10_000,
        description="How long the groups of check-in submissions share one outbox pointer (an epoch pointer, "
        "common.group_insert; 0: a pointer per group). Must stay well under OUTBOX_EPOCH_GRACE_SECONDS.",
    )
    labour_stars_sweep_seconds: float = Field(
        3600.0, ge=1.0, description="How often each replica awards the labour stars of ended weeks and months."
    )
