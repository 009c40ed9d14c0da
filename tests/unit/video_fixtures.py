"""Session fixture: the real test videos, built once by scripts/fetch_fixtures.py (cached)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.fetch_fixtures import default_dest, fetch_all


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return fetch_all(default_dest(), large=False)


@pytest.fixture(scope="session")
def montage_truth(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "montage.json").read_text())
