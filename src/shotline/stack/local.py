"""The local stack: Kafka, Milvus, Redis and the five services under supervisord.

`up` is idempotent (a running supervisord is reused and only missing programs start) and
returns once every component answers its health check; `down` asks supervisord to stop
every child (each with its own stop signal) and waits until its pid is gone. Components
whose connection string is set in the environment (KAFKA_BOOTSTRAP_SERVERS, MILVUS_URI,
REDIS_URL) are external: nothing is started for them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shotline import logs, topics
from shotline.stack import kafka as kafka_stack
from shotline.stack import redis as redis_stack
from shotline.stack.milvus import MilvusLiteServer

log = logs.get("shotline.stack")

SERVICES = ("segmenter", "encoder", "indexer", "trainer", "query", "console", "scorer", "transcriber")
# Worker stages that scale out by replicas (one consumer group splits its topics' partitions among
# them). The others stay single: query and console bind their ports, the trainer takes a lease.
SCALABLE = ("segmenter", "encoder", "indexer", "transcriber", "scorer")
MAX_REPLICAS = 16
# Settings a user exports for `stack up` that the services must see too.
PASSTHROUGH = ("SHOTLINE_MODEL_DIR", "SHOTLINE_MODEL_BUNDLE", "SHOTLINE_ORT_PROVIDERS", "SHOTLINE_API_TOKEN",
               "SHOTLINE_API_TOKENS_FILE", "SHOTLINE_TLS_CERT_FILE", "SHOTLINE_TLS_KEY_FILE", "SHOTLINE_TLS_CA_FILE",
               "SHOTLINE_TLS_CLIENT_CA_FILE",
               "SHOTLINE_LOG_LEVEL", "SHOTLINE_LOG_JSON", "SHOTLINE_INDEX_TYPE", "SHOTLINE_GRPC_WORKERS", "MILVUS_TOKEN",
               # an external Milvus 2.3 (MILVUS_URI) has no INVERTED scalar indexes; the probe's brute-force pass
               "SHOTLINE_MILVUS_SCALAR_INDEXES", "SHOTLINE_RECALL_PROBE_INTERVAL_SECONDS", "SHOTLINE_SEARCH_CONSISTENCY",
               # the blob store: every service must see the same one as `shotline upload`
               "SHOTLINE_BLOB_ROOT", "SHOTLINE_BLOB_URL", "SHOTLINE_S3_ENDPOINT_URL", "SHOTLINE_S3_REGION",
               "SHOTLINE_S3_ACCESS_KEY", "SHOTLINE_S3_SECRET_KEY", "SHOTLINE_MAX_UPLOAD_BYTES",
               # egress policy (shotline.egress)
               "SHOTLINE_ALLOWED_HOSTS", "SHOTLINE_EGRESS_ALLOW_PRIVATE", "SHOTLINE_EGRESS_MAX_REDIRECTS")


class StackSettings(BaseSettings):
    """Where the local stack listens and keeps its state (`SHOTLINE_STACK_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="SHOTLINE_STACK_", frozen=True, extra="ignore", populate_by_name=True
    )

    run_dir: Path = Field(Path(".run"), validation_alias="SHOTLINE_RUN_DIR")
    cache_dir: Path = Field(Path.home() / ".cache" / "shotline", validation_alias="SHOTLINE_CACHE_DIR")
    kafka_version: str = kafka_stack.DEFAULT_VERSION
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    milvus_port: int = 19530
    redis_port: int = 6379
    query_port: int = 50051
    encoder_port: int = 50052
    console_port: int = 8080  # the annotator web app (http://127.0.0.1:8080/)
    metrics_port_base: int = 9401  # segmenter, encoder, indexer, trainer, query, console, scorer, transcriber = base + i
    partitions: int = 6
    ready_timeout_seconds: float = 180.0
    # Processes per worker stage (`shotline stack up --replicas segmenter=3,encoder=2`); 1 by default.
    replicas: dict[str, int] = Field(default_factory=dict)

    @field_validator("replicas")
    @classmethod
    def _replicas_are_scalable(cls, v: dict[str, int]) -> dict[str, int]:
        for svc, n in v.items():
            if svc not in SCALABLE:
                raise ValueError(f"{svc!r} cannot run as several replicas: only {', '.join(SCALABLE)} can")
            if not 1 <= n <= MAX_REPLICAS:
                raise ValueError(f"{svc}: replicas must be in 1..{MAX_REPLICAS}, not {n}")
        return v

    def metrics_port(self, service: str, replica: int = 0) -> int:
        """Replica r of the i-th service: base + i + r × len(SERVICES) (replica 0 keeps base + i)."""
        return self.metrics_port_base + SERVICES.index(service) + replica * len(SERVICES)

    def programs(self) -> list[tuple[str, str, int]]:
        """(supervisord program, service, replica) of every service process."""
        return [(program_name(svc, r), svc, r) for svc in SERVICES for r in range(self.replicas.get(svc, 1))]


def program_name(service: str, replica: int) -> str:
    """The first replica keeps the service's name; the others are ``<service>-2``, ``-3``, …"""
    return service if replica == 0 else f"{service}-{replica + 1}"


def parse_replicas(spec: str) -> dict[str, int]:
    """``"segmenter=3,encoder=2"`` → ``{"segmenter": 3, "encoder": 2}`` (checked by StackSettings)."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, count = part.partition("=")
        if not sep or not count.strip().isdigit():
            raise ValueError(f"replicas are SERVICE=N pairs separated by commas, not {part!r}")
        out[name.strip()] = int(count)
    return out


@dataclass
class Endpoints:
    kafka: str
    milvus: str
    redis: str
    kafka_external: bool
    milvus_external: bool
    redis_external: bool


def endpoints(st: StackSettings) -> Endpoints:
    env = os.environ
    return Endpoints(
        kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{st.kafka_port}",
        milvus=env.get("MILVUS_URI") or f"http://127.0.0.1:{st.milvus_port}",
        redis=env.get("REDIS_URL") or f"redis://127.0.0.1:{st.redis_port}/0",
        kafka_external="KAFKA_BOOTSTRAP_SERVERS" in env,
        milvus_external="MILVUS_URI" in env,
        redis_external="REDIS_URL" in env,
    )


def _ini_value(v: str) -> str:
    return v.replace("%", "%%")


def _program(name: str, argv: list[str], run_dir: Path, *, env: dict[str, str] | None = None,
             cwd: Path | None = None, stopsignal: str = "TERM", stopwait: int = 30,
             autostart: bool = True, priority: int = 100) -> str:
    import shlex

    lines = [
        f"[program:{name}]",
        f"command={_ini_value(shlex.join(argv))}",
        f"directory={cwd or Path.cwd()}",
        f"autostart={'true' if autostart else 'false'}",
        "autorestart=true",
        "startsecs=2",
        "startretries=10",
        f"stopsignal={stopsignal}",
        f"stopwaitsecs={stopwait}",
        "stopasgroup=true",
        "killasgroup=true",
        f"priority={priority}",
        f"stdout_logfile={run_dir / 'logs' / (name + '.log')}",
        "redirect_stderr=true",
        "stdout_logfile_maxbytes=20MB",
        "stdout_logfile_backups=2",
    ]
    if env:
        pairs = ",".join(f'{k}="{_ini_value(v)}"' for k, v in env.items())
        lines.append(f"environment={pairs}")
    return "\n".join(lines) + "\n"


def service_env(st: StackSettings, ep: Endpoints, service: str, replica: int = 0) -> dict[str, str]:
    shared = {"SHOTLINE_GRPC_SHARE_PORT": "true"} if service == "encoder" and st.replicas.get(service, 1) > 1 else {}
    return {
        **shared,  # encoder replicas serve the online API on one port (SO_REUSEPORT), as behind a Service
        "KAFKA_BOOTSTRAP_SERVERS": ep.kafka,
        "MILVUS_URI": ep.milvus,
        "REDIS_URL": ep.redis,
        "SHOTLINE_RUN_DIR": str(st.run_dir),
        "SHOTLINE_CACHE_DIR": str(st.cache_dir),
        "SHOTLINE_METRICS_PORT": str(st.metrics_port(service, replica)),
        "SHOTLINE_QUERY_ADDRESS": f"127.0.0.1:{st.query_port}",
        "SHOTLINE_ENCODER_ADDRESS": f"127.0.0.1:{st.encoder_port}",
        "SHOTLINE_CONSOLE_PORT": str(st.console_port),
        "SHOTLINE_TOPIC_PARTITIONS": str(st.partitions),
        "PYTHONUNBUFFERED": "1",
        # Local files the segmenter may read: the working tree and the fixtures. Never the run dir
        # (Redis AOF, Milvus db, logs): sources refuse it even under an allowed root.
        "SHOTLINE_ALLOWED_ROOTS": os.environ.get(
            "SHOTLINE_ALLOWED_ROOTS", f"{Path.cwd()}:{st.cache_dir / 'fixtures'}"),
        # Egress: everything here listens on loopback, and the fault-injection servers of the tests
        # too, so the local stack admits loopback (only); Kubernetes leaves this unset and refuses it.
        "SHOTLINE_EGRESS_ALLOWED_NETWORKS": os.environ.get(
            "SHOTLINE_EGRESS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128"),
        **{k: v for k, v in os.environ.items() if k in PASSTHROUGH},
    }


def write_config(st: StackSettings) -> Path:
    run = st.run_dir.resolve()
    (run / "logs").mkdir(parents=True, exist_ok=True)
    ep = endpoints(st)
    parts = [
        "[supervisord]",
        f"logfile={run / 'logs' / 'supervisord.log'}",
        f"pidfile={run / 'supervisord.pid'}",
        f"directory={Path.cwd()}",
        "nodaemon=false",
        "minfds=4096",
        "",
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run / 'supervisor.sock'}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
    ]
    st_abs = st.model_copy(update={"run_dir": run})
    if not ep.kafka_external:
        argv = kafka_stack.prepare(run, st.cache_dir, st.kafka_port, st.kafka_controller_port,
                                   st.partitions, st.kafka_version)
        parts.append(_program("kafka", argv, run, priority=10, stopwait=60))
    if not ep.milvus_external:
        argv, env, cwd = MilvusLiteServer(run, st.milvus_port).argv()
        cwd.mkdir(parents=True, exist_ok=True)
        # milvus-lite stops cleanly on SIGINT; SIGTERM can orphan its worker.
        parts.append(_program("milvus", argv, run, env=env, cwd=cwd, stopsignal="INT", priority=10))
    if not ep.redis_external:
        parts.append(_program("redis", redis_stack.prepare(run, st.redis_port), run, priority=10))
    for name, svc, replica in st.programs():
        env = service_env(st_abs, ep, svc, replica)
        # Started by `up` once the topics exist, never by supervisord on its own.
        parts.append(_program(name, [sys.executable, "-m", f"services.{svc}"], run, env=env,
                              autostart=False, priority=50, stopwait=45))
    conf = run / "supervisord.conf"
    conf.write_text("\n".join(parts))
    return conf


def _supervisord_pid(run: Path) -> int | None:
    pidfile = run / "supervisord.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _ctl(run: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("supervisorctl", path=str(Path(sys.executable).parent)) or "supervisorctl"
    return subprocess.run([exe, "-c", str(run / "supervisord.conf"), *args],
                          check=check, capture_output=True, text=True)


def up(st: StackSettings | None = None, with_services: bool = True) -> Endpoints:
    st = st or StackSettings()
    run = st.run_dir.resolve()
    ep = endpoints(st)
    if _supervisord_pid(run) is None:
        busy = _busy_ports(st, ep, with_services)
        if busy:
            # Fail now, in words: a leftover stack on these ports would silently serve the
            # requests meant for this one (its query service writing uploads elsewhere, say).
            raise RuntimeError(f"ports already in use on 127.0.0.1: {busy} — another stack running? "
                               "stop it (`shotline stack down` in its directory) or choose other ports")
        conf = write_config(st)
        exe = shutil.which("supervisord", path=str(Path(sys.executable).parent)) or "supervisord"
        subprocess.run([exe, "-c", str(conf)], check=True)
        log.info("supervisord started", run_dir=str(run))
    else:
        log.info("stack already running; ensuring every program is up", run_dir=str(run))
        if with_services and _configured_programs(run) != {p for p, _, _ in st.programs()}:
            # Scaled: supervisord adds the new replicas' programs and stops and drops the surplus.
            write_config(st)
            _ctl(run, "reread", check=False)
            _ctl(run, "update", check=False)
    wait_infra(ep, st.ready_timeout_seconds)
    ensure_topics(ep.kafka, st.partitions)
    if with_services:
        start_services(st)
    return ep


def _configured_programs(run: Path) -> set[str]:
    """The service programs the running stack's supervisord.conf defines."""
    conf = run / "supervisord.conf"
    names = re.findall(r"^\[program:([^\]]+)\]", conf.read_text(), re.M) if conf.exists() else []
    return {n for n in names if n.split("-")[0] in SERVICES}


def _busy_ports(st: StackSettings, ep: Endpoints, with_services: bool) -> dict[str, int]:
    wanted: dict[str, int] = {}
    if not ep.kafka_external:
        wanted |= {"kafka": st.kafka_port, "kafka controller": st.kafka_controller_port}
    if not ep.milvus_external:
        wanted["milvus"] = st.milvus_port
    if not ep.redis_external:
        wanted["redis"] = st.redis_port
    if with_services:
        wanted |= {"query": st.query_port, "encoder": st.encoder_port, "console": st.console_port}
        wanted |= {f"{name} metrics": st.metrics_port(svc, r) for name, svc, r in st.programs()}
    busy = {}
    for name, port in wanted.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy[name] = port
    return busy


def down(st: StackSettings | None = None, timeout: float = 120.0) -> bool:
    st = st or StackSettings()
    run = st.run_dir.resolve()
    pid = _supervisord_pid(run)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)  # supervisord stops every child with its stopsignal, then exits
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    raise RuntimeError(f"supervisord (pid {pid}) did not exit within {timeout}s")


def status(st: StackSettings | None = None) -> str:
    st = st or StackSettings()
    run = st.run_dir.resolve()
    if _supervisord_pid(run) is None:
        return "stack is down"
    return _ctl(run, "status", check=False).stdout


# ---- health checks --------------------------------------------------------------------

def _wait(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                log.info("ready", component=what)
                return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s: {last}")


def kafka_ready(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="shotline-health")
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


def redis_ready(url: str) -> bool:
    import redis

    return bool(redis.Redis.from_url(url, socket_timeout=2).ping())


def milvus_ready(uri: str) -> bool:
    from pymilvus import MilvusClient

    from shotline.index.shot_index import GRPC_OPTIONS

    client = MilvusClient(uri=uri, timeout=5, grpc_options=GRPC_OPTIONS)
    try:
        client.list_collections()
        return True
    finally:
        client.close()


def wait_infra(ep: Endpoints, timeout: float) -> None:
    _wait("kafka", lambda: kafka_ready(ep.kafka), timeout)
    _wait("redis", lambda: redis_ready(ep.redis), timeout)
    _wait("milvus", lambda: milvus_ready(ep.milvus), timeout)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
        return r.status == 200


def wait_services(st: StackSettings, timeout: float, programs: Collection[str] | None = None) -> None:
    """Until each program (every service process by default) answers /readyz; a timeout says what
    the program's log ends with."""
    for name, svc, r in st.programs():
        if programs is not None and name not in programs:
            continue
        try:
            _wait(name, lambda s=svc, r=r: _http_ok(f"http://127.0.0.1:{st.metrics_port(s, r)}/readyz"), timeout)
        except TimeoutError as exc:
            logfile = st.run_dir.resolve() / "logs" / f"{name}.log"
            tail = logfile.read_text(errors="replace")[-1500:] if logfile.exists() else "(no log)"
            raise TimeoutError(f"{exc}; its log ends:\n{tail}") from None


def start_services(st: StackSettings, *programs: str) -> None:
    """Start these programs (all services when none are named) and wait until each is ready: a
    stack brought up with ``up(with_services=False)`` runs only what a benchmark needs."""
    names = programs or tuple(p for p, _, _ in st.programs())
    _ctl(st.run_dir.resolve(), "start", *names, check=False)
    wait_services(st, st.ready_timeout_seconds, set(names))


def ensure_topics(bootstrap: str, partitions: int, prefix: str = "shotline") -> list[str]:
    """Create every topic and its retry and dead-letter twins; existing topics are left as they are."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = topics.all_topics(prefix)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shotline-topics")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
            except TopicAlreadyExistsError:
                pass  # raced with another `up`
        return missing
    finally:
        admin.close()
