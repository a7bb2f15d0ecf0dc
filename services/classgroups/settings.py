"""Settings of the class groups service (env prefix ``CLASSGROUPS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class ClassGroupsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLASSGROUPS_", extra="ignore", populate_by_name=True)

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
