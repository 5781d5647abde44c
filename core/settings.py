"""Typed settings, one class per component (pydantic-settings).

Read only at entry points (the command line, service mains); constructors take explicit
arguments. Every setting comes from the environment with the prefix ``FIELDSTREAM_`` and
``__`` between levels, e.g. ``FIELDSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092`` or
``FIELDSTREAM_GATEWAY__PORT=8080``. Secrets are ``SecretStr`` and never logged.

The embedded default and docker-compose differ only in these values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the Grafana dashboards as checked in (the repository's grafana/dashboards); an installed image
# sets FIELDSTREAM_DASHBOARDS_DIR instead
DASHBOARDS = Path(__file__).resolve().parents[1] / "grafana" / "dashboards"


class TopicNames(BaseModel):
    raw: str = "contacts.raw"
    enriched: str = "contacts.enriched"
    dlq: str = "contacts.dlq"
    voters: str = "voters"
    corrections: str = "contacts.corrections"  # voids and their undoing (one partition: in order)
    suppressions: str = "contacts.suppressions"  # the keeper's voids and folds, for the exchange


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = Field(2, ge=1, description="partitions of contacts.* topics when created")
    compression: str = "lz4"
    schema_registry_url: str | None = Field(
        None, description="set in production: write the Confluent wire format via this registry"
    )
    topics: TopicNames = TopicNames()


class ClickHouseSettings(BaseModel):
    dsn: SecretStr = Field(
        SecretStr(""),
        description="clickhouse-connect DSN: chdb:///abs/path (embedded) or "
        "http(s)://user:pw@host:8123/db; empty means chDB in <data_dir>/chdb",
    )


class GatewaySettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_batch_events: int = Field(1000, ge=1)
    sources_file: Path = Path("sources.yaml")  # relative: under data_dir
    produce_timeout_s: float = 10.0


class MobilizeSettings(BaseModel):
    """The Mobilize API the attendance poller reads (``fieldstream import mobilize``)."""

    base_url: str = "https://api.mobilize.us/v1"
    organization_id: int = Field(0, ge=0)
    api_token: SecretStr = SecretStr("")
    per_page: int = Field(100, ge=1, le=1000)
    timeout_s: float = 30.0


class StreamSettings(BaseModel):
    app_id: str = "fieldstream-stream"
    web_host: str = "127.0.0.1"
    web_port: int = 8081
    programs_file: Path = Path("programs.yaml")  # relative: under data_dir
    dedupe_horizon_s: int = Field(
        3 * 24 * 3600, ge=60, description="dedupe window; senders retry ~3 days"
    )
    future_skew_s: int = Field(300, ge=0, description="tolerated clock skew for occurred_at")
    batch_max: int = Field(1000, ge=1)
    batch_within_s: float = Field(0.05, gt=0)
    fetch_wait_ms: int = Field(
        20, ge=1, description="broker fetch wait; Tansu holds fetches this long"
    )
    session_timeout_s: float = Field(6.0, gt=0, description="group join on Tansu takes ~half of it")
    voter_store: Literal["memory", "rocksdb"] = Field(
        "memory", description="memory (embedded default) or rocksdb (a large state, on disk)"
    )
    voter_store_path: Path = Path("stream/voters.rocksdb")  # relative: under data_dir


class SharingSettings(BaseModel):
    """Outputs meant for sharing (reports, partner aggregates)."""

    min_group_size: int = Field(11, ge=1, description="smaller groups are suppressed")


# the partner id under which the exchange files our own contacts, pseudonymised like partners'
SELF_PARTNER = "self"


class ExchangeSettings(BaseModel):
    """The data exchange (docs/exchange.md): the agent and what the sink reads back.

    Topic names are templates: ``{partner}`` is the receiving partner, ``{us}`` our own
    partner id (``our_partner_id``), so orgs sharing one broker keep their topics apart.
    ``inbound`` lists partners' topics as ``partner=topic`` pairs, comma separated (a plain
    string so it survives the FIELDSTREAM_* environment the stack hands its children).
    """

    our_partner_id: str = Field("", description="how partners' agreements name us")
    agreements_file: Path = Path("exchange/agreements.yaml")  # relative: under data_dir
    keys_file: Path = Path("exchange/keys.yaml")  # relative: under data_dir; holds secrets
    group_id: str = "fieldstream-exchange"
    outbound_topic: str = "exchange.{partner}"
    self_topic: str = "exchange.{us}.self"
    audit_topic: str = "exchange.{us}.audit"
    pseudonyms_topic: str = "exchange.{us}.pseudonyms"
    inbound: str = Field("", description="partner=topic,partner=topic: partners' records to us")
    release_delay_s: float = Field(
        0.0, ge=0, description="hold each contact this long before sharing it"
    )
    reload_check_s: float = Field(2.0, gt=0, description="how often the agreements file is checked")
    batch_max: int = Field(1000, ge=1)
    fetch_wait_ms: int = 20
    session_timeout_s: float = 6.0

    def topic(self, template: str, partner: str = "") -> str:
        return template.format(partner=partner, us=self.our_partner_id)

    @field_validator("inbound")
    @classmethod
    def _pairs(cls, value: str) -> str:
        parse_pairs(value)
        return value

    def inbound_topics(self) -> dict[str, str]:
        """topic -> partner, from ``inbound``."""
        return {self.topic(topic): partner for partner, topic in parse_pairs(self.inbound)}


def parse_pairs(value: str) -> list[tuple[str, str]]:
    """``a=b,c=d`` -> [(a, b), (c, d)]; ValueError naming the bad item."""
    out = []
    for item in filter(None, (p.strip() for p in value.split(","))):
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ValueError(f"{item!r} is not partner=topic")
        out.append((left.strip(), right.strip()))
    return out


class SinkSettings(BaseModel):
    group_id: str = "fieldstream-sink"
    batch_rows: int = Field(10_000, ge=1)
    flush_interval_s: float = Field(0.25, gt=0)
    fetch_wait_ms: int = 20
    session_timeout_s: float = 6.0
    query_host: str = "127.0.0.1"
    query_port: int = 8082
    dedup_window: int = Field(1000, ge=1, description="non_replicated_deduplication_window")
    keeper_interval_s: float = Field(
        2.0, gt=0, description="how often the ledger keeper finalises what the boards read"
    )
    keeper_overlap_s: float = Field(
        10.0, ge=0, description="re-read this much of the inbox each cycle (slow inserts land late)"
    )
    verify_interval_s: float = Field(
        600.0, ge=0, description="recount the boards from contact_events this often (0: never)"
    )
    verify_days: int = Field(
        14, ge=0, description="the sink's periodic verify covers this many recent days (0: all)"
    )
    forecast_interval_s: float = Field(60.0, gt=0, description="how often forecasts are redone")


class SimulatorSettings(BaseModel):
    gateway_url: str = "http://127.0.0.1:8080"
    rate: float = Field(20.0, gt=0, description="events per second")
    bad_share: float = Field(0.03, ge=0, le=1)
    duplicate_share: float = Field(0.02, ge=0, le=1)
    seed: int = 7


class Settings(BaseSettings):
    """All of fieldstream's settings. ``data_dir`` holds chDB, generated config and demo data."""

    model_config = SettingsConfigDict(
        env_prefix="FIELDSTREAM_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("var")
    dashboards_dir: Path = Field(
        DASHBOARDS, description="the Grafana dashboards the board and the report run (their SQL)"
    )
    log_level: str = "INFO"
    kafka: KafkaSettings = KafkaSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    gateway: GatewaySettings = GatewaySettings()
    stream: StreamSettings = StreamSettings()
    sink: SinkSettings = SinkSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    mobilize: MobilizeSettings = MobilizeSettings()
    sharing: SharingSettings = SharingSettings()
    exchange: ExchangeSettings = ExchangeSettings()

    def model_post_init(self, __context: object) -> None:
        """Resolve paths against data_dir so every process sees the same absolute ones."""
        self.data_dir = self.data_dir.resolve()
        if not self.clickhouse.dsn.get_secret_value():
            self.clickhouse.dsn = SecretStr(f"chdb://{self.data_dir / 'chdb'}")
        if not self.gateway.sources_file.is_absolute():
            self.gateway.sources_file = self.data_dir / self.gateway.sources_file
        if not self.stream.programs_file.is_absolute():
            self.stream.programs_file = self.data_dir / self.stream.programs_file
        if not self.stream.voter_store_path.is_absolute():
            self.stream.voter_store_path = self.data_dir / self.stream.voter_store_path
        if not self.exchange.agreements_file.is_absolute():
            self.exchange.agreements_file = self.data_dir / self.exchange.agreements_file
        if not self.exchange.keys_file.is_absolute():
            self.exchange.keys_file = self.data_dir / self.exchange.keys_file


def load_settings() -> Settings:
    """Read settings from the environment (entry points only)."""
    return Settings()
