"""Typed settings, one class per component (pydantic-settings).

Read only at entry points (the command line, service mains); constructors take explicit
arguments. Every setting comes from the environment with the prefix ``FIELDSTREAM_`` and
``__`` between levels, e.g. ``FIELDSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092`` or
``FIELDSTREAM_GATEWAY__PORT=8080``. Secrets are ``SecretStr`` and never logged.

The embedded default and docker-compose differ only in these values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.config import private_dir

# the Grafana dashboards as checked in (the repository's grafana/dashboards); an installed image
# sets FIELDSTREAM_DASHBOARDS_DIR instead
DASHBOARDS = Path(__file__).resolve().parents[1] / "grafana" / "dashboards"


class TopicNames(BaseModel):
    raw: str = "contacts.raw"
    enriched: str = "contacts.enriched"
    dlq: str = "contacts.dlq"
    voters: str = "voters"
    # the bulk lane: imports go here, through the same stream and sink in large batches, so
    # a big import never delays the live lane (docs/scaling.md)
    raw_bulk: str = "contacts.raw.bulk"
    enriched_bulk: str = "contacts.enriched.bulk"
    corrections: str = "contacts.corrections"  # voids and their undoing (one partition: in order)
    suppressions: str = "contacts.suppressions"  # the keeper's voids and folds, for the exchange
    signals: str = "person.signals"  # activist codes, tags, opt-ins/outs: never attempts
    shifts: str = "volunteer.shifts"  # volunteers' shift sign-ups: never contacts
    writeback: str = "van.writeback"  # the write-back's per-contact states (sinks/writeback)
    quality_flags: str = "quality.flags"


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
    journal: bool = Field(
        True,
        description="keep what was acknowledged on disk until the store holds it (the "
        "embedded broker keeps nothing across a restart); off where Kafka is durable",
    )
    journal_dir: Path = Path("journal")  # relative: under data_dir
    body_timeout_s: float = Field(
        30.0, gt=0, description="a request body not received within this is refused (408)"
    )
    max_uploads_per_source: int = Field(
        8, ge=1, description="requests of one source in progress at once; more get 429"
    )
    max_future_s: int = Field(
        86_400,
        ge=0,
        description="timestamps later than receipt plus this are refused (422); a smaller "
        "clock skew is the stream's (stream.future_skew_s: a dead letter a data manager sees)",
    )
    reload_check_s: float = Field(
        2.0, gt=0, description="how often sources.yaml and its codes files are checked for edits"
    )


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
    programs_file: Path = Path("programs.yaml")  # relative: under data_dir (reloaded on edit)
    dedupe_horizon_s: int = Field(
        3 * 24 * 3600, ge=60, description="dedupe window; senders retry ~3 days"
    )
    future_skew_s: int = Field(300, ge=0, description="tolerated clock skew for occurred_at")
    batch_max: int = Field(
        1000, ge=1, description="most raw events per batch (one fetch of one partition)"
    )
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
    inbound_orgs: str = Field(
        "",
        description="partner=org,...: which of our orgs' analysts read a partner's records "
        "(unlisted: only fieldstream's own users)",
    )
    release_delay_s: float = Field(
        0.0, ge=0, description="hold each contact this long before sharing it"
    )
    reload_check_s: float = Field(2.0, gt=0, description="how often the agreements file is checked")
    batch_max: int = Field(1000, ge=1)
    fetch_wait_ms: int = 20
    session_timeout_s: float = 6.0

    def topic(self, template: str, partner: str = "") -> str:
        return template.format(partner=partner, us=self.our_partner_id)

    @field_validator("inbound", "inbound_orgs")
    @classmethod
    def _pairs(cls, value: str) -> str:
        parse_pairs(value)
        return value

    def inbound_topics(self) -> dict[str, str]:
        """topic -> partner, from ``inbound``."""
        return {self.topic(topic): partner for partner, topic in parse_pairs(self.inbound)}

    def reader_orgs(self) -> dict[str, str]:
        """partner -> the org of ours whose analysts read what that partner shares."""
        return dict(parse_pairs(self.inbound_orgs))


def parse_pairs(value: str) -> list[tuple[str, str]]:
    """``a=b,c=d`` -> [(a, b), (c, d)]; ValueError naming the bad item."""
    out = []
    for item in filter(None, (p.strip() for p in value.split(","))):
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ValueError(
                f"{item!r} is not partner=topic (inbound) or partner=org (inbound_orgs)"
            )
        out.append((left.strip(), right.strip()))
    return out


class QualityAgentSettings(BaseModel):
    """The quality agent (docs/quality.md): flags fabricated-looking shifts as contacts arrive.

    The checks' thresholds, per campaign, are in ``policy_file`` (absent: the defaults)."""

    policy_file: Path = Path("quality.yaml")  # relative: under data_dir
    group_id: str = "fieldstream-quality"
    rebuild_hours: float = Field(
        36, ge=0, description="at start, re-read this much of contacts.enriched to rebuild shifts"
    )
    batch_max: int = Field(1000, ge=1)
    fetch_wait_ms: int = 20
    session_timeout_s: float = 6.0
    heartbeat_file: Path | None = Field(
        None, description="touched every few seconds while the agent runs (a health probe)"
    )


class SinkSettings(BaseModel):
    group_id: str = "fieldstream-sink"
    consumers: int = Field(
        1,
        ge=1,
        description="consumers of the sink's group in this process (threads sharing its store "
        "and ledger; `fieldstream up --workers N` sets N for the embedded chDB)",
    )
    batch_rows: int = Field(10_000, ge=1)
    flush_interval_s: float = Field(0.25, gt=0)
    bulk_batch_rows: int = Field(100_000, ge=1, description="batch size of the bulk lane")
    bulk_flush_interval_s: float = Field(2.0, gt=0, description="the bulk lane's flush interval")
    fetch_wait_ms: int = 20
    session_timeout_s: float = 6.0
    query_host: str = "127.0.0.1"
    query_port: int = 8082
    dedup_window: int = Field(1000, ge=1, description="non_replicated_deduplication_window")
    keeper_interval_s: float = Field(
        5.0,
        gt=0,
        description="how often the ledger keeper finalises what the boards read (boards "
        "refresh every 30 s or more; each pass costs the sink's inserts store time)",
    )
    keeper_overlap_s: float = Field(
        10.0, ge=0, description="re-read this much of the inbox each cycle (slow inserts land late)"
    )
    keeper_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness of the keeper's statements (ClickHouse's os_thread_priority): "
        "on a machine whose cores are all busy the sink's inserts go first and the keeper's "
        "passes take longer (0: as the inserts)",
    )
    verify_interval_s: float = Field(
        600.0, ge=0, description="recount the boards from contact_events this often (0: never)"
    )
    verify_days: int = Field(
        14, ge=0, description="the sink's periodic verify covers this many recent days (0: all)"
    )
    forecast_interval_s: float = Field(60.0, gt=0, description="how often forecasts are redone")
    ledger_horizon_s: int = Field(
        3 * 24 * 3600,
        ge=60,
        description="how long stored event ids are checked before an insert (sinks/ledger.py); "
        "at least the senders' retry window",
    )
    retry_max_s: float = Field(10.0, gt=0, description="longest pause between insert retries")
    max_poll_interval_s: float = Field(
        300.0, ge=1, description="the consumer's max.poll.interval.ms, in seconds"
    )
    fault_file: Path | None = Field(
        None,
        description="drills only: while this file exists every insert fails, as if the store "
        "were down (the fault tests and bench/soak.py use it)",
    )
    query_api: bool = Field(
        True, description="serve /query and /insert (off where analysts use a ClickHouse server)"
    )


class DeadLetterSettings(BaseModel):
    """Refused events at rest (core/sealing.py, sinks/at_rest.py): sealed, and kept a while."""

    keys: SecretStr = Field(
        SecretStr(""),
        description="Fernet keys, comma separated: the first seals, each opens (rotation)",
    )
    key_file: Path = Path("secrets/dead-letters.key")  # relative: under data_dir
    retention_days: int = Field(90, ge=1, description="dead letters older than this are dropped")


class QuerySettings(BaseModel):
    """The sink's query door (sinks/query_api.py): who may ask, and how much each query may take.

    Analyst tokens (one org each) and extra admin tokens live, hashed, in ``tokens_file``
    (``fieldstream query-token``). ``admin_token`` is the credential fieldstream's own commands
    (sql, board, report, loaders) present; when empty, the sink creates one in
    ``admin_token_file`` (0600) and the commands read it from there.
    """

    tokens_file: Path = Path("query-tokens.yaml")  # relative: under data_dir
    admin_token: SecretStr = SecretStr("")
    admin_token_file: Path = Path("secrets/query-admin.token")  # relative: under data_dir
    timeout_s: float = Field(10.0, gt=0, le=600, description="max execution time of a query")
    max_result_rows: int = Field(100_000, ge=1)
    max_result_bytes: int = Field(64_000_000, ge=1024)
    max_memory_bytes: int = Field(1_000_000_000, ge=10_000_000)
    max_query_bytes: int = Field(100_000, ge=1024, description="size of the SQL text")
    threads: int = Field(1, ge=1, description="max_threads of one query (cores it may take)")
    concurrency: int = Field(2, ge=1, description="queries running at once")
    nice: int = Field(
        19,
        ge=0,
        le=19,
        description="CPU niceness of query threads (ClickHouse's "
        "os_thread_priority; 19 lowest; without CAP_SYS_NICE ClickHouse ignores it)",
    )
    queue_wait_s: float = Field(5.0, ge=0, description="wait for a free slot, then answer 429")


class VanSettings(BaseModel):
    """VAN's API as fieldstream calls it: the write-back, the VAN route's pass-through and
    ``fieldstream van codes --fetch``. Each org's VAN API key (the GUID, without ``|mode``) is
    a secret: ``FIELDSTREAM_VAN__API_KEYS='{"demo-org": "..."}'``."""

    base_url: str = "https://api.securevan.com/v4"
    api_keys: dict[str, SecretStr] = Field(default_factory=dict, description="org -> VAN key")
    pass_through_timeout_s: float = Field(
        10.0, gt=0, description="the VAN route's pass-through waits this long for VAN"
    )


class WritebackSettings(BaseModel):
    """The write-back to VAN (``python -m sinks.writeback``; docs/sources.md).

    Which orgs write back, with which VAN application name, mode and codes, is in
    ``config_file``; the orgs' keys are in :class:`VanSettings`.
    """

    config_file: Path = Path("writeback.yaml")  # relative: under data_dir
    ledger_file: Path = Path("writeback/ledger.sqlite")  # relative: under data_dir
    group_id: str = "fieldstream-writeback"
    rate_per_key: float = Field(
        5.0, gt=0, description="requests per second per VAN API key; well under VAN's limits"
    )
    concurrency_per_key: int = Field(4, ge=1, description="requests in flight per API key")
    timeout_s: float = Field(30.0, gt=0, description="after this, a request is uncertain")
    fetch_wait_ms: int = 20
    session_timeout_s: float = 6.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8084


class SimulatorSettings(BaseModel):
    gateway_url: str = "http://127.0.0.1:8080"
    rate: float = Field(20.0, gt=0, description="events per second")
    bad_share: float = Field(0.03, ge=0, le=1)
    duplicate_share: float = Field(0.02, ge=0, le=1)
    cheat_share: float = Field(
        0.1, ge=0, le=1, description="dishonest share of the demo's day of shifts (docs/quality.md)"
    )
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
    van: VanSettings = VanSettings()
    writeback: WritebackSettings = WritebackSettings()
    quality: QualityAgentSettings = QualityAgentSettings()
    query: QuerySettings = QuerySettings()
    dead_letters: DeadLetterSettings = DeadLetterSettings()

    def model_post_init(self, __context: object) -> None:
        """Resolve paths against data_dir so every process sees the same absolute ones."""
        self.data_dir = self.data_dir.resolve()
        if not self.clickhouse.dsn.get_secret_value():
            self.clickhouse.dsn = SecretStr(f"chdb://{self.data_dir / 'chdb'}")
        if not self.gateway.sources_file.is_absolute():
            self.gateway.sources_file = self.data_dir / self.gateway.sources_file
        if not self.gateway.journal_dir.is_absolute():
            self.gateway.journal_dir = self.data_dir / self.gateway.journal_dir
        if not self.stream.programs_file.is_absolute():
            self.stream.programs_file = self.data_dir / self.stream.programs_file
        if not self.stream.voter_store_path.is_absolute():
            self.stream.voter_store_path = self.data_dir / self.stream.voter_store_path
        if not self.exchange.agreements_file.is_absolute():
            self.exchange.agreements_file = self.data_dir / self.exchange.agreements_file
        if not self.exchange.keys_file.is_absolute():
            self.exchange.keys_file = self.data_dir / self.exchange.keys_file
        if not self.writeback.config_file.is_absolute():
            self.writeback.config_file = self.data_dir / self.writeback.config_file
        if not self.writeback.ledger_file.is_absolute():
            self.writeback.ledger_file = self.data_dir / self.writeback.ledger_file
        if not self.quality.policy_file.is_absolute():
            self.quality.policy_file = self.data_dir / self.quality.policy_file
        if not self.dead_letters.key_file.is_absolute():
            self.dead_letters.key_file = self.data_dir / self.dead_letters.key_file
        for name in ("tokens_file", "admin_token_file"):
            path = getattr(self.query, name)
            if not path.is_absolute():
                setattr(self.query, name, self.data_dir / path)


def load_settings() -> Settings:
    """Read settings from the environment (entry points only).

    Every fieldstream process creates its files for its own user only (umask 077: chDB,
    logs, demo and voter files, from their first byte), and the data directory 0700."""
    os.umask(0o077)
    settings = Settings()
    private_dir(settings.data_dir)
    return settings
