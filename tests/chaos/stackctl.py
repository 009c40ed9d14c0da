"""A local stack of the chaos suite's own (ports 3xxxx, its own run dir) and its controls.

The stack is the project's (`shotline.stack.local`): the same supervisord config, with extra
environment for chosen programs appended to their `environment=` lines (supervisord keeps the
last value of a key), so e.g. only the segmenter runs with a short max poll interval.
Faults go through supervisord as an operator's would: SIGKILL a service's pid and let
supervisord restart it; `supervisorctl restart kafka|milvus|redis`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shotline.stack import local

CHAOS_PORTS = dict(
    kafka_port=39092, kafka_controller_port=39093, milvus_port=39530, redis_port=36379,
    query_port=39051, encoder_port=39052, console_port=39080, metrics_port_base=39401,
)
EXTERNAL_VARS = ("KAFKA_BOOTSTRAP_SERVERS", "MILVUS_URI", "REDIS_URL")


def _wait(what: str, check, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s (last error: {last})")


class ChaosStack:
    def __init__(self, run_dir: Path, *, partitions: int = 4, env: dict[str, str] | None = None,
                 program_env: dict[str, dict[str, str]] | None = None):
        self.st = local.StackSettings(run_dir=run_dir, partitions=partitions, **CHAOS_PORTS)
        self.run = run_dir.resolve()
        self.env = env or {}  # every service
        self.program_env = program_env or {}  # per program, after `env`
        self.ep: local.Endpoints | None = None
        self.injected: list[tuple[str, str, float]] = []  # (kind, target, seconds until healthy again)

    @property
    def logs(self) -> Path:
        return self.run / "logs"

    # ---- lifecycle -------------------------------------------------------------------
    def up(self) -> local.Endpoints:
        for var in EXTERNAL_VARS:
            if var in os.environ:
                raise RuntimeError(f"{var} is set: the chaos suite needs a stack of its own (unset it)")
        if local._supervisord_pid(self.run) is None:
            conf = local.write_config(self.st)
            conf.write_text(self._with_env(conf.read_text()))
            exe = shutil.which("supervisord", path=str(Path(sys.executable).parent)) or "supervisord"
            subprocess.run([exe, "-c", str(conf)], check=True)
            # supervisord daemonizes: until its pid file is written, `local.up` would start another.
            _wait("supervisord", lambda: local._supervisord_pid(self.run) and (self.run / "supervisor.sock").exists(), 30,
                  interval=0.1)
        self.ep = local.up(self.st, with_services=True)
        return self.ep

    def _with_env(self, conf: str) -> str:
        sections = re.split(r"(?m)^(?=\[)", conf)
        out = []
        for sec in sections:
            m = re.match(r"\[program:([^\]]+)\]", sec)
            if m:
                name = m.group(1)
                extra = dict(self.env) if name in local.SERVICES else {}
                extra.update(self.program_env.get(name, {}))
                if extra:
                    pairs = ",".join(f'{k}="{local._ini_value(v)}"' for k, v in extra.items())
                    if re.search(r"(?m)^environment=", sec):
                        sec = re.sub(r"(?m)^(environment=.*)$", lambda mm: f"{mm.group(1)},{pairs}", sec)
                    else:
                        sec = sec.rstrip("\n") + f"\nenvironment={pairs}\n"
            out.append(sec)
        return "".join(out)

    def down(self) -> None:
        local.down(self.st)

    def status(self) -> str:
        return local.status(self.st)

    # ---- faults ----------------------------------------------------------------------
    def pid(self, program: str) -> int:
        out = local._ctl(self.run, "pid", program, check=False).stdout.strip()
        return int(out) if out.isdigit() else 0

    def kill(self, service: str, timeout: float = 180.0) -> float:
        """SIGKILL the service's process; supervisord restarts it. Returns seconds until /readyz."""
        old = self.pid(service)
        if not old:
            raise RuntimeError(f"{service} is not running:\n{self.status()}")
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        _wait(f"{service} restarted", lambda: self.pid(service) not in (0, old), timeout)
        port = self.st.metrics_port(service)
        _wait(f"{service} ready", lambda: _http_ok(f"http://127.0.0.1:{port}/readyz"), timeout)
        took = time.monotonic() - t0
        self.injected.append(("SIGKILL", service, took))
        return took

    def restart(self, program: str, timeout: float = 180.0) -> float:
        """`supervisorctl restart <program>` (kafka, milvus, redis); returns seconds until healthy."""
        assert self.ep is not None
        t0 = time.monotonic()
        res = local._ctl(self.run, "restart", program, check=False)
        if "started" not in res.stdout:
            raise RuntimeError(f"restart {program}: {res.stdout} {res.stderr}")
        check = {"kafka": lambda: local.kafka_ready(self.ep.kafka),
                 "milvus": lambda: local.milvus_ready(self.ep.milvus),
                 "redis": lambda: local.redis_ready(self.ep.redis)}[program]
        _wait(f"{program} healthy", check, timeout)
        took = time.monotonic() - t0
        self.injected.append(("restart", program, took))
        return took

    def exits(self) -> dict[str, list[str]]:
        """supervisord's 'exited:' lines per program (every death, ours and unexpected)."""
        out: dict[str, list[str]] = {}
        log = self.logs / "supervisord.log"
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                m = re.search(r"exited: (\S+) \((.*)\)", line)
                if m:
                    out.setdefault(m.group(1), []).append(m.group(2))
        return out

    def grep_log(self, program: str, pattern: str, limit: int = 5) -> list[str]:
        path = self.logs / f"{program}.log"
        if not path.exists():
            return []
        rx = re.compile(pattern)
        hits = [ln for ln in path.read_text(errors="replace").splitlines() if rx.search(ln)]
        return hits[-limit:]


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
        return r.status == 200
