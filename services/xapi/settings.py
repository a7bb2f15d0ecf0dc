"""Settings of the xAPI exporter (env prefix ``XAPI_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class XapiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="XAPI_", extra="ignore", populate_by_name=True)
    DEV_SECRETS = ("pseudonym_key", "lrs_password")  # PLATFORM_ENVIRONMENT=production refuses their defaults

    lrs_url: str = Field(
        "http://127.0.0.1:8100/xAPI/",
        description="The xAPI endpoint of the Learning Record Store (any LRS conformant to xAPI 1.0.3; locally "
        "Ralph, started by `make run`); statements are POSTed to `<lrs_url>statements`.",
    )
    lrs_username: str = Field("smartedu-xapi", description="Basic-auth user of the LRS.")
    lrs_password: SecretStr = Field(SecretStr("dev-only-lrs-password"), description="Basic-auth password of the LRS.")
    lrs_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one request to the LRS.")
    platform_iri: str = Field(
        "https://basic.smartedu.cn",
        description="The platform's IRI: the actors' account homePage, and the root of activity, extension and "
        "verb-display IRIs.",
    )
    pseudonym_key: SecretStr = Field(
        SecretStr("dev-only-xapi-pseudonym-key"),
        description="Key of the actors' pseudonyms (HMAC-SHA256 of the account id): the LRS never sees a platform "
        "account id, a name, a phone or an email. Changing it changes every learner's pseudonym.",
    )
    batch_max_records: int = Field(500, ge=1, le=5000, description="Events read (and statements sent) per batch.")
