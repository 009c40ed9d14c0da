"""Machine-readable CLI output: stdout is the JSON document and nothing else, logs go to
stderr. Each command runs in a subprocess, as `shotline … | jq` would, with debug logging on
so there are logs to misroute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .video_fixtures import write_clip

SHOTLINE = [sys.executable, "-c", "from shotline.cli import app; app()"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, "SHOTLINE_LOG_LEVEL": "DEBUG", **(env or {})}
    return subprocess.run([*SHOTLINE, *args], capture_output=True, text=True, timeout=300, env=e)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    a = [np.full((64, 96, 3), 30, np.uint8) + rng.integers(0, 5, (64, 96, 3), dtype=np.uint8) for _ in range(15)]
    b = [np.full((64, 96, 3), 220, np.uint8) - rng.integers(0, 5, (64, 96, 3), dtype=np.uint8) for _ in range(15)]
    return write_clip(tmp_path_factory.mktemp("cli") / "cut.mp4", a + b)


def test_segment_stdout_is_one_json_document(clip: Path) -> None:
    res = run("segment", str(clip))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["file"] == str(clip) and len(doc["shots"]) == 2


def test_segment_error_goes_to_stderr(tmp_path: Path) -> None:
    res = run("segment", str(tmp_path / "missing.mp4"))
    assert res.returncode == 2
    assert res.stdout == ""
    assert "missing.mp4" in res.stderr


def test_rank_json_with_logs_on(tmp_path: Path) -> None:
    from shotline.models.build_default import build_default_bundle

    build_default_bundle()  # cached after the first build (make setup builds it)
    img = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(img)
    res = run("rank", "--json", "-p", "a cat", "-p", "a car", str(img))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # would fail on a single log line
    assert doc["prompts"] == ["a cat", "a car"] and len(doc["scores"]) == 2
    assert "ort_session" in res.stderr  # the logs exist, on stderr


def test_upload_json_reports_each_missing_file_and_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = run("upload", "--json", str(tmp_path / "nope.mp4"), str(tmp_path / "empty"),
              env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})  # never contacted: nothing to send
    assert res.returncode == 1
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(Path(r["file"]).name, r["error"]) for r in rows] == [
        ("nope.mp4", "no such file"), ("empty", "no video files in this directory")]


def test_upload_table_errors_on_stderr(tmp_path: Path) -> None:
    res = run("upload", str(tmp_path / "nope.mp4"), env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert res.returncode == 1
    assert "nope.mp4" in res.stderr and "no such file" in res.stderr
