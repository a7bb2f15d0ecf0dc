"""Identity's settings (env prefix ``IDENTITY_``). The key defaults are for local runs and tests only: every
deployment sets its own (32 random bytes, base64url) from a secret store."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings

_DEV = "ZGV2LW9ubHktZGV2LW9ubHktZGV2LW9ubHktZGV2LW8"  # 32 bytes, never used outside dev/test


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)
    DEV_SECRETS = ("pii_keys", "lookup_key", "notify_key")  # PLATFORM_ENVIRONMENT=production refuses their defaults
    DEV_ONLY_SWITCHES = ("seed_demo",)

    issuer: str = Field("https://id.smartedu.cn", description="`iss` of every token; the OIDC issuer URL.")
    audience: str = Field("smartedu-api", description="`aud` of access tokens for the platform's services.")
    access_token_minutes: int = Field(10, ge=1, le=60)
    refresh_token_days: int = Field(30, ge=1)
    key_rotation_hours: float = Field(24.0, gt=0, description="Signing key rotation period.")
    pii_keys: dict[str, str] = Field({"dev1": _DEV}, description="AES-256-GCM keys for PII by key id.")
    pii_active_key: str = Field("dev1")
    lookup_key: str = Field(_DEV, description="HMAC-SHA256 key of lookup hashes (phone, e-mail, ID number).")
    notify_key: str = Field(_DEV, description="Key shared with the notification gateway for sealed payloads.")
    notify_key_id: str = Field("dev1")
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19456, ge=8192)
    argon2_parallelism: int = Field(1, ge=1)
    login_max_failures: int = Field(5, ge=1, description="Per account before a temporary lock.")
    login_ip_max_failures: int = Field(50, ge=1, description="Per client IP (schools share NAT addresses).")
    login_lock_seconds: int = Field(300, ge=1)
    rate_window_seconds: int = Field(
        3600, ge=1, description="Window of the per-IP and registration rate limits (requests beyond → 429)."
    )
    register_max_per_ip: int = Field(
        200, ge=1, description="Registrations per client IP per window (a school registers a class at once)."
    )
    register_max_per_identifier: int = Field(5, ge=1, description="Registration attempts per phone/e-mail per window.")
    reset_max_per_ip: int = Field(100, ge=1, description="Password-reset codes requested per client IP per window.")
    reset_max_per_identifier: int = Field(
        5, ge=1, description="Password-reset codes per phone/e-mail per reset window (bounds SMS and guesses)."
    )
    reset_identifier_window_seconds: int = Field(86400, ge=1, description="Window of the per-identifier reset limit.")
    guardian_self_approval_age: int = Field(14, ge=0, description="Students of this age approve links themselves.")
    browser_origins: list[str] = Field(
        [],
        description="Origins of the platform's own web pages that sign users in from the browser (CORS on identity's "
        "routes, no cookies: e.g. viewstats' /dashboard at https://tongji.smartedu.cn). Empty: no browser page "
        "calls identity across origins.",
    )
    snapshot_page_size: int = Field(
        500, ge=1, le=5000, description="Accounts per page of the account-snapshot backfill (one query, one send)."
    )
    snapshot_pause_seconds: float = Field(
        0.05, ge=0, le=60, description="Pause between pages of the account-snapshot backfill (bounds its load)."
    )
    teacher_registry_url: str = Field("http://127.0.0.1:8199", description="National teacher registry adapter.")
    seed_demo: bool = Field(
        False,
        description="Seed the demo subtree (cities, counties, schools, providers) at start; `make run` turns it on. "
        "Refused in production. The root and the 34 provincial divisions are always seeded.",
    )
    # --- subscriber feeds (docs/SUBSCRIBERS.md) -------------------------------------------------------------
    feed_partitions: int = Field(3, ge=1, le=64, description="Partitions of a new subscriber's feed topic.")
    feed_retention_hours: int = Field(
        168, ge=1, description="Retention of a subscriber's feed topic (how long it may be away before a replay)."
    )
    feed_page_max: int = Field(500, ge=1, le=5000, description="Most records of one HTTP feed page.")
    replay_max_window_hours: float = Field(
        24 * 7, gt=0, description="Longest time window one replay may ask for (ask several for more)."
    )
    replay_max_records: int = Field(100_000, ge=1, description="Most feed records one replay may write.")
    feeds_refresh_seconds: float = Field(
        5.0, gt=0, description="The feed router re-reads the registered subscribers this often."
    )
    feeds_batch_records: int = Field(500, ge=1, description="Records the feed router routes per batch.")
