"""Settings every service shares, read from the environment (pydantic-settings).

A service subclasses :class:`ServiceSettings` in its own ``settings.py`` and gives it an ``env_prefix`` for
its own variables; the shared ones below are read without a prefix so that one set of variables
configures the whole platform. ``make settings-table`` renders every variable into the README.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

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
    shutdown_grace_seconds: float = Field(
        20.0,
        gt=0,
        validation_alias="SHUTDOWN_GRACE_SECONDS",
        description="How long a stopping service waits for in-flight messages before it closes its clients.",
    )
