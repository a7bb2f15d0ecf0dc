"""Settings of viewstats (env prefix ``VIEWSTATS_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings
from common.topics import VIEWSTATS_HEARTBEATS, VIEWSTATS_VIEWS


class ViewstatsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VIEWSTATS_", extra="ignore", populate_by_name=True)
    DEV_SECRETS = ("certificate_key",)  # PLATFORM_ENVIRONMENT=production refuses its default

    views_topic: str = Field(VIEWSTATS_VIEWS, description="Topic of raw view beacons.")
    heartbeats_topic: str = Field(VIEWSTATS_HEARTBEATS, description="Topic of watch-time heartbeats.")
    aggregator_group: str = Field("viewstats-aggregator", description="Consumer group of the aggregator.")
    instance_id: str | None = Field(
        None,
        description="Static group membership id (e.g. the StatefulSet pod name): a restarted aggregator "
        "gets its partitions back at once instead of after a rebalance, and fences its own zombie.",
    )
    session_timeout_ms: int = Field(10_000, ge=6000, description="Kafka consumer session timeout.")
    aggregator_client: Literal["aiokafka", "confluent"] = Field(
        "aiokafka",
        description="The aggregator's Kafka client: aiokafka, or confluent-kafka (librdkafka, batch consume) "
        "(README: Which Kafka client).",
    )
    partitions: int = Field(12, ge=1, description="Partitions of the views topic (queries sum this many shards).")
    dedup_window: int = Field(
        200_000, ge=1, description="Records per partition within which a repeated event id is a client retry."
    )
    flush_max_records: int = Field(100_000, ge=1, description="Flush (write + commit) after this many records.")
    flush_interval_seconds: float = Field(1.0, gt=0, description="…or after this long.")
    catchup_lag_records: int = Field(
        200_000,
        ge=1,
        description="An aggregator this many records behind (summed over its partitions) is catching up: it flushes "
        "every VIEWSTATS_CATCHUP_FLUSH_INTERVAL_SECONDS or VIEWSTATS_CATCHUP_FLUSH_MAX_RECORDS instead.",
    )
    catchup_flush_max_records: int = Field(500_000, ge=1, description="Flush after this many records when catching up.")
    catchup_flush_interval_seconds: float = Field(3.0, gt=0, description="…or after this long when catching up.")
    sketch_interval_seconds: float = Field(
        5.0,
        ge=0,
        description="Unique-visitor sketches are written with a flush at most this often (and always before the "
        "commit gets half a de-dup window ahead of them: a restart re-reads that window into the sketches).",
    )
    run_aggregator: bool = Field(True, description="Run the aggregator consumer inside the API process.")
    minute_retention_days: int = Field(
        35,
        ge=1,
        description="Views by section, province and country per minute are kept this many days (the aggregator drops "
        "whole hour collections); the platform's views per minute, and everything by hour and day, are kept.",
    )
    resource_map_max_entries: int = Field(
        100_000,
        ge=2,
        le=150_000,
        description="Resources one hour or day shard of a partition counts by name; views of further resources count "
        "under `~other` (a shard is one document: 100,000 entries of ≤ 64-byte ids are ≈ 8 MB of the 16 MiB).",
    )
    resource_sketch_max_entries: int = Field(
        40_000,
        ge=1,
        le=60_000,
        description="Resources with a unique-visitor sketch per day and partition (one document; ≤ 200 bytes each).",
    )
    listing_refresh_seconds: float = Field(
        5.0,
        gt=0,
        description="How often at most the aggregator re-reads the catalog's resource ids when a flush meets views "
        "of ids it does not know (those count in the platform's totals, not per resource, until the catalog lists "
        "them).",
    )
    collector_max_batch: int = Field(1000, ge=1, le=10_000, description="Beacons per POST /v1/views.")
    views_compression: Literal["none", "lz4", "zstd", "gzip", "snappy"] = Field(
        "lz4",
        description="Codec of the collector's record batches. View records repeat most of their headers and fields: "
        "lz4 makes the views topic ≈ 9× smaller on disk and on the wire (a replayed day fits the page cache) for "
        "little CPU; consumers decompress whatever codec a batch carries.",
    )
    collector_kafka_timeout_ms: int = Field(
        10_000,
        ge=1000,
        description="How long a beacon request waits for Kafka's acknowledgement before the collector answers 503 "
        "(the client retries with the same event ids; duplicates are dropped).",
    )
    ip_table: str = Field("", description="Path of the IP → province CIDR table; empty: the bundled one.")
    collector_max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body the collector reads (a full batch of beacons is ≈ 300 KB); a larger one is "
        "answered 413 without being read (the chassis' body limit of `/v1/views`, in place of HTTP_MAX_BODY_BYTES).",
    )
    collector_ip_rate_per_second: float = Field(
        200.0,
        gt=0,
        description="Beacons and heartbeats a second one client address may send to one collector replica (an "
        "in-memory token bucket per replica: the platform-wide limit is about replicas × this). A school behind "
        "one NAT address is one client: keep it well above a school's peak.",
    )
    collector_ip_burst: int = Field(
        5000, ge=1, description="Beacons one client address may send at once before the per-second rate applies."
    )
    collector_ip_max_clients: int = Field(
        100_000,
        ge=1,
        description="Client addresses whose bucket a collector replica remembers (least recently seen forgotten "
        "first): bounds the limiter's memory.",
    )

    popularity_interval_seconds: float = Field(
        60.0, gt=0, description="How often the aggregator publishes the popularity of its partitions' resources."
    )
    run_learning: bool = Field(True, description="Run the learning-hours consumers inside the API process.")
    certificate_key: SecretStr = Field(
        SecretStr("dev-only-certificate-key"),
        description="HMAC key deriving certificate numbers (unguessable without it); set a secret in production.",
    )
    dashboard_identity_url: str | None = Field(
        None,
        description="Identity's address as browsers reach it: administrators sign in to /dashboard there (identity's "
        "own login, POST /v1/sessions; identity lists the dashboard's origin in IDENTITY_BROWSER_ORIGINS). Unset: "
        "the page shows the public figures only.",
    )
    public_base_url: str = Field(
        "https://basic.smartedu.cn", description="Printed on certificates: where a number can be verified."
    )

    def database_name(self) -> str:
        """The chassis' rule: `<MONGODB_DATABASE_PREFIX>viewstats` (the collector owns no database)."""
        return f"{self.mongodb_database_prefix}viewstats"
