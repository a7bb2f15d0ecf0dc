"""Settings every service shares, read from the environment (pydantic-settings).

A service subclasses :class:`ServiceSettings` in its own ``settings.py`` and gives it an ``env_prefix`` for
its own variables; the shared ones below are read without a prefix so that one set of variables
configures the whole platform. ``make settings-table`` renders every variable into the README.

``PLATFORM_ENVIRONMENT=production`` makes the settings refuse what is only fit for a developer's machine: a
service lists its keys in ``DEV_SECRETS`` (their defaults are development values, published in this repository)
and its demo switches in ``DEV_ONLY_SWITCHES``; in production the settings do not load, and so the service does
not start, while a key still holds a development value or a demo switch is on (docs/SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProductionRefused(RuntimeError):
    """Production settings holding a development key, a default secret or a demo switch; names the variables,
    never their values."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Fields whose defaults are development keys or secrets: in production each must be set, and to none of them.
    DEV_SECRETS: ClassVar[tuple[str, ...]] = ()
    # Boolean fields that must be off in production (demo data).
    DEV_ONLY_SWITCHES: ClassVar[tuple[str, ...]] = ()

    platform_environment: Literal["development", "production"] = Field(
        "development",
        validation_alias="PLATFORM_ENVIRONMENT",
        description="`production` refuses to start with a development key or secret, or with demo seeding on "
        "(docs/SECURITY.md); `development` (the default, for `make run` and tests) accepts them.",
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Kafka bootstrap servers, comma-separated. When set, `make run`/`make test` start no Kafka.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        validation_alias="KAFKA_SECURITY_PROTOCOL",
        description="How clients reach Kafka. `make run`/`make test` set SASL_PLAINTEXT (SCRAM users and ACLs on a "
        "loopback broker); production uses SASL_SSL.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM", description="SASL mechanism of the Kafka login."
    )
    kafka_sasl_username: str | None = Field(
        None,
        validation_alias="KAFKA_SASL_USERNAME",
        description="This process's Kafka principal (one per service: its ACLs allow only its own topics and groups).",
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, validation_alias="KAFKA_SASL_PASSWORD", description="Password of KAFKA_SASL_USERNAME."
    )
    kafka_ssl_cafile: str | None = Field(
        None,
        validation_alias="KAFKA_SSL_CAFILE",
        description="CA bundle (PEM) that signed the brokers' certificates, for SASL_SSL; unset: the system's CAs.",
    )
    kafka_client_prefix: str = Field(
        "",
        validation_alias="KAFKA_CLIENT_PREFIX",
        description="Prefix for consumer group ids, so that several test runs can share one cluster.",
    )
    mongodb_url: str = Field(
        "mongodb://127.0.0.1:27017",
        validation_alias="MONGODB_URL",
        description="MongoDB-API connection string (FerretDB locally, MongoDB in production). When set, "
        "`make run`/`make test` start no FerretDB.",
    )
    mongodb_database_prefix: str = Field(
        "smartedu_",
        validation_alias="MONGODB_DATABASE_PREFIX",
        description="Each service uses the database `<prefix><service>`; no service reads another's.",
    )
    mongodb_max_pool_size: int = Field(
        32,
        ge=1,
        validation_alias="MONGODB_MAX_POOL_SIZE",
        description="Store connections per process, kept well under FerretDB's pool of 100 per database (its "
        "updates hold one connection while they wait for another).",
    )
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL", description="Python log level.")
    log_json: bool = Field(True, validation_alias="LOG_JSON", description="JSON log lines carrying the trace id.")
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/HTTP collector for traces (e.g. http://otel-collector:4318); unset: spans are not exported.",
    )
    traces_sample_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        validation_alias="TRACES_SAMPLE_RATIO",
        description="Share of the traces starting in this process that are recorded; a trace a caller or an event's "
        "headers mark as sampled is always recorded. Unrecorded spans still carry their trace id into logs and "
        "Kafka headers; what is recorded is what an OTLP collector receives.",
    )
    consumer_max_attempts: int = Field(
        5,
        ge=1,
        validation_alias="CONSUMER_MAX_ATTEMPTS",
        description="Attempts of a failing handler before its message goes to the dead-letter topic "
        "(store and Kafka outages are retried without limit and never dead-lettered).",
    )
    consumer_backoff_seconds: float = Field(
        0.2,
        gt=0,
        validation_alias="CONSUMER_BACKOFF_SECONDS",
        description="First retry delay of a failing handler; doubles per attempt up to 5 s.",
    )
    http_max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        validation_alias="HTTP_MAX_BODY_BYTES",
        description="Largest request body any route accepts (413 problem beyond it, checked while the body "
        "streams in); a route may have its own larger limit (e.g. CATALOG_IMPORT_MAX_BODY_BYTES).",
    )
    trusted_proxy_hops: int = Field(
        0,
        ge=0,
        le=10,
        validation_alias="TRUSTED_PROXY_HOPS",
        description="Proxies in front of the service that append to X-Forwarded-For (the ingress depth): the "
        "client IP is the entry this many places from the right (`common.network`). 0: the header is ignored and "
        "the socket peer is the client. Production sets the ingress depth.",
    )
    shutdown_grace_seconds: float = Field(
        20.0,
        gt=0,
        validation_alias="SHUTDOWN_GRACE_SECONDS",
        description="How long a stopping service waits for in-flight messages before it closes its clients.",
    )
    # --- the outbox relay (common.outbox) ------------------------------------------------------------------
    outbox_sweep_seconds: float = Field(
        5.0,
        gt=0,
        validation_alias="OUTBOX_SWEEP_SECONDS",
        description="How often the outbox relay looks in the store for events no relay holds in memory (left by "
        "a crash, a stopped replica or a long Kafka outage).",
    )
    outbox_sweep_min_age_seconds: float = Field(
        10.0,
        ge=0,
        validation_alias="OUTBOX_SWEEP_MIN_AGE_SECONDS",
        description="A sweep leaves younger changes to the relay of the replica that wrote them (fewer duplicates).",
    )
    outbox_orphan_seconds: float = Field(
        3600.0,
        gt=0,
        validation_alias="OUTBOX_ORPHAN_SECONDS",
        description="An outbox pointer whose documents still do not carry its events this long after it was "
        "written belongs to a write that failed or never happened: it is dropped (must exceed any store write's "
        "duration).",
    )
    outbox_epoch_grace_seconds: float = Field(
        60.0,
        ge=0,
        validation_alias="OUTBOX_EPOCH_GRACE_SECONDS",
        description="A sweep leaves an epoch pointer (one shared by a group writer's batches, common.group_insert) "
        "this much longer than OUTBOX_SWEEP_MIN_AGE_SECONDS: a batch written under it must have landed by then "
        "(its documents are then found by the pointer's tag).",
    )
    outbox_batch_events: int = Field(
        500, ge=1, validation_alias="OUTBOX_BATCH_EVENTS", description="Events per publish of the outbox relay."
    )
    outbox_publish_timeout_seconds: float = Field(
        15.0,
        gt=0,
        validation_alias="OUTBOX_PUBLISH_TIMEOUT_SECONDS",
        description="How long the relay waits for Kafka's acknowledgement of a batch before it backs off and "
        "retries (a request never waits for Kafka: its events are stored with its state).",
    )
    outbox_memory_events: int = Field(
        20_000,
        ge=0,
        validation_alias="OUTBOX_MEMORY_EVENTS",
        description="Committed events the relay keeps in memory to publish without reading them back; beyond "
        "(a long Kafka outage, a big import) they are read back from the store. Bulk imports wait while the relay "
        "holds more than half of this and Kafka is up.",
    )

    # --- production refusal --------------------------------------------------------------------------------
    @model_validator(mode="after")
    def _refuse_development_values_in_production(self) -> ServiceSettings:
        if self.platform_environment == "production":
            refused = list(self.development_values())
            if refused:
                # Not a ValueError: pydantic would wrap it in a ValidationError that prints every input, keys included.
                raise ProductionRefused(
                    "PLATFORM_ENVIRONMENT=production refuses to start with development values: "
                    + "; ".join(refused)
                    + ". Set the keys from a secret store (docs/SECURITY.md: generating keys)."
                )
        return self

    def development_values(self) -> Iterator[str]:
        """What production would refuse in these settings, one reason per setting (names as variables)."""
        dev_values = {v for name in self.DEV_SECRETS for v in _secret_values(type(self).model_fields[name].default)}
        for name in self.DEV_SECRETS:
            values = _secret_values(getattr(self, name))
            if name not in self.model_fields_set:
                yield f"{self.variable(name)} is not set (its default is a development key)"
            elif not values or any(not v for v in values):
                yield f"{self.variable(name)} is empty"
            elif dev_values & set(values):
                yield f"{self.variable(name)} holds a development key"
        for name in self.DEV_ONLY_SWITCHES:
            if getattr(self, name):
                yield f"{self.variable(name)} is on (demo data only)"

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of a field."""
        alias = cls.model_fields[name].validation_alias
        return (alias if isinstance(alias, str) else f"{cls.model_config.get('env_prefix', '')}{name}").upper()


def _secret_values(value: Any) -> list[str]:
    """The secret strings in a setting's value: a string, a SecretStr, or the values of a key ring (dict)."""
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, dict):
        return [w for v in value.values() for w in _secret_values(v)]
    return [str(value)] if value is not None else []
