"""Typed, validated settings from the environment (pydantic-settings).

Connection strings use the conventional names (`KAFKA_BOOTSTRAP_SERVERS`, `MILVUS_URI`,
`REDIS_URL`); everything else is `SHOTLINE_<FIELD>`. Secrets are `SecretStr`, so they are
masked in logs and reprs. Invalid values fail at start-up, not on the first message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _cache_default() -> Path:
    return Path.home() / ".cache" / "shotline"


class Settings(BaseSettings):
    """Settings every service shares. Services subclass it for their own fields."""

    model_config = SettingsConfigDict(env_prefix="SHOTLINE_", frozen=True, extra="ignore", populate_by_name=True)

    service_name: str = "shotline"
    # Infrastructure. Left at their defaults, `shotline stack up` starts local servers there.
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "SHOTLINE_KAFKA_BOOTSTRAP_SERVERS"),
    )
    milvus_uri: str = Field(
        "http://127.0.0.1:19530", validation_alias=AliasChoices("MILVUS_URI", "SHOTLINE_MILVUS_URI")
    )
    milvus_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MILVUS_TOKEN", "SHOTLINE_MILVUS_TOKEN")
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias=AliasChoices("REDIS_URL", "SHOTLINE_REDIS_URL"),
    )

    # Kafka topology.
    topic_prefix: str = "shotline"
    topic_partitions: int = Field(6, ge=1, le=1024)
    topic_replication: int = Field(1, ge=1, le=5)
    consumer_group_prefix: str = "shotline"
    redis_key_prefix: str = Field("shotline", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # several deployments, one Redis

    # Worker loop.
    batch_max_records: int = Field(32, ge=1, le=10_000)
    poll_timeout_ms: int = Field(500, ge=10, le=60_000)
    transient_retries: int = Field(5, ge=0, le=100)
    retry_backoff_seconds: float = Field(0.5, gt=0, le=60)
    handler_error_retries: int = Field(1, ge=0, le=10)
    produce_timeout_seconds: float = Field(30.0, gt=0)
    lag_refresh_seconds: float = Field(10.0, gt=0)
    # Handlers run on task threads while the loop keeps polling: a long video never gets the
    # member evicted. Each slot holds one partition (or one batch); ticking handlers use 1.
    worker_concurrency: int = Field(1, ge=1, le=64)
    max_poll_interval_ms: int = Field(300_000, ge=1_000)
    tick_interval_seconds: float = Field(1.0, gt=0)
    # Per-record faults (a URL that times out): delays before attempts 2, 3, ...; then the DLQ.
    record_retry_delays_seconds: Annotated[list[float], NoDecode] = [10.0, 60.0, 300.0]
    shutdown_grace_seconds: float = Field(25.0, ge=0)  # below the pod's terminationGracePeriod
    liveness_loop_seconds: float = Field(60.0, gt=0)   # the loop iterates every poll; stale = stuck
    max_task_seconds: float = Field(8 * 3600.0, gt=0)  # one record may take hours, not forever

    # Local state.
    run_dir: Path = Path(".run")
    cache_dir: Path = Field(default_factory=_cache_default)
    blob_root: Path | None = None  # default: <run_dir>/blobs

    # Blob store backend (uploads, keyframes). Unset: the local directory above.
    # `s3://bucket/prefix`: an S3-compatible server at s3_endpoint_url (AWS when unset).
    blob_url: str | None = Field(None, pattern=r"^(s3://[^/]+(/.*)?|file://.+|/.+)$")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_timeout_seconds: float = Field(10.0, gt=0, le=300)

    # Observability.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9400, ge=0, le=65535)  # 0 = pick a free port
    log_level: str = "INFO"
    log_json: bool = False

    # Model bundles.
    model_bundle: Path | None = None  # a bundle directory; default: the built offline default
    ort_providers: Annotated[list[str], NoDecode] = []

    # Shot index (Milvus). IVF_FLAT works on milvus-lite and servers; HNSW needs a server.
    index_type: str = "IVF_FLAT"
    # INVERTED scalar indexes need Milvus >= 2.4 (and milvus-lite); set false for a 2.3 server.
    milvus_scalar_indexes: bool = True
    index_params: dict[str, int | float | str] = {}
    search_params: dict[str, int | float | str] = {}
    # Strong: a shot is searchable as soon as its shots-indexed event is out. Bounded trades
    # a few seconds of staleness for latency on a busy cluster.
    search_consistency: str = Field("Strong", pattern="^(Strong|Bounded|Session|Eventually)$")
    # What is said and shown per shot (the transcriber writes, SearchText's keyword mode reads):
    # Milvus full-text search (BM25), so Milvus >= 2.5 or milvus-lite 2.5.1.
    text_collection: str = Field("shot_text", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")

    # APIs.
    encoder_address: str = "127.0.0.1:50052"
    query_address: str = "127.0.0.1:50051"
    # Who may call this service (shotline.auth): a token file of `identity role sha256:<hex>` lines.
    # Without one, `api_token` alone is a single shared admin token (local stack); with neither, no auth.
    api_tokens_file: Path | None = None
    api_token: SecretStr | None = None  # the credential this service presents to the others
    # TLS (shotline.tls): this service's certificate (server, and client for mTLS); clients of a
    # service whose TLS CA is set; a client CA makes the servers require client certificates.
    tls_cert_file: Path | None = None
    grpc_reflection: bool = True  # server reflection (grpcurl without protos); prod overlays turn it off
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    tls_ca_file: Path | None = None

    # Video sources.
    allowed_roots: Annotated[list[Path], NoDecode] = []
    max_download_bytes: int = Field(2 * 1024**3, gt=0)
    download_timeout_seconds: float = Field(30.0, gt=0)      # connect / per read, http(s) sources
    download_deadline_seconds: float = Field(1800.0, gt=0)   # a whole http(s) download
    # Fetchers a service offers for event URIs: blob, file (and bare paths), http, https.
    uri_schemes: Annotated[list[str], NoDecode] = ["blob", "file", "http", "https"]

    # Egress (shotline.egress): by default no loopback, private, link-local or metadata address
    # is ever connected to, checked after DNS resolution and on every redirect hop.
    allowed_hosts: Annotated[list[str], NoDecode] = []  # non-empty: only these (".x.com" = subdomains)
    egress_allow_private: bool = False  # loopback + private ranges (the local stack, tests); never metadata
    egress_allowed_networks: Annotated[list[str], NoDecode] = []  # CIDRs always admitted
    egress_max_redirects: int = Field(3, ge=0, le=10)

    # The encoder's online API (EncodeText / EncodeImages / EncodeClip): per-request limits and
    # admission control, so online calls cannot starve (or OOM) the ingest worker beside them.
    online_uri_schemes: Annotated[list[str], NoDecode] = ["blob", "http", "https"]  # no local files
    online_max_uri_chars: int = Field(2048, ge=16)
    online_max_texts: int = Field(256, ge=1)
    online_max_text_chars: int = Field(16384, ge=16)
    online_max_images: int = Field(256, ge=1)
    online_max_image_pixels: int = Field(4096 * 4096, ge=1)     # one image
    online_max_request_pixels: int = Field(64 * 1024**2, ge=1)  # all images of one request
    online_max_clip_bytes: int = Field(32 * 1024**2, ge=1)
    online_max_clip_seconds: float = Field(120.0, gt=0)
    online_max_download_bytes: int = Field(512 * 1024**2, gt=0)  # EncodeClip(uri) downloads
    online_download_deadline_seconds: float = Field(60.0, gt=0)
    online_concurrency: int = Field(4, ge=1, le=256)       # EncodeText / EncodeImages in flight
    online_clip_concurrency: int = Field(1, ge=1, le=64)   # EncodeClip in flight
    online_admission_wait_seconds: float = Field(1.0, ge=0)  # then RESOURCE_EXHAUSTED

    @field_validator("uri_schemes", "online_uri_schemes", "allowed_hosts", "egress_allowed_networks",
                     mode="before")
    @classmethod
    def _split_commas(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip().lower() for p in v.split(",") if p.strip()]
        return v

    @field_validator("uri_schemes", "online_uri_schemes")
    @classmethod
    def _known_schemes(cls, v: list[str]) -> list[str]:
        unknown = set(v) - {"blob", "file", "http", "https"}
        if unknown:
            raise ValueError(f"unknown URI schemes {sorted(unknown)}: use blob, file, http, https")
        return v

    @field_validator("egress_allowed_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        import ipaddress

        for n in v:
            ipaddress.ip_network(n, strict=False)  # ValueError names the bad entry
        return v

    @field_validator("allowed_roots", mode="before")
    @classmethod
    def _split_roots(cls, v: object) -> object:
        if isinstance(v, str):
            return [Path(p).expanduser() for p in v.split(":") if p]
        return v

    @field_validator("record_retry_delays_seconds", mode="before")
    @classmethod
    def _split_delays(cls, v: object) -> object:
        if isinstance(v, str):
            return [float(p) for p in v.split(",") if p.strip()]
        return v

    @field_validator("record_retry_delays_seconds")
    @classmethod
    def _delays_positive(cls, v: list[float]) -> list[float]:
        if any(d < 0 for d in v):
            raise ValueError("record_retry_delays_seconds must be >= 0")
        return v

    @field_validator("ort_providers", mode="before")
    @classmethod
    def _split_providers(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return v

    # Derived paths.
    @property
    def blob_dir(self) -> Path:
        return self.blob_root or (self.run_dir / "blobs")

    @property
    def bundle_path(self) -> Path:
        if self.model_bundle is not None:
            return self.model_bundle
        from shotline.models.build_default import default_bundle_path

        return default_bundle_path()

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def group(self, service: str) -> str:
        return f"{self.consumer_group_prefix}-{service}"
