#!/usr/bin/env bash
# A real Milvus 2.3.5 standalone server (PyPI `milvus`, command `milvus-server`) in a venv
# of its own, for tests against a server rather than milvus-lite (idempotent, cached).
# Kept apart from .venv so its dependencies can never move the project's pinned pymilvus.
# Output: ${SHOTLINE_CACHE_DIR:-~/.cache/shotline}/milvus-server-venv (~330 MB, binaries unpacked).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHONPATH=src "$VENV/bin/python" -m shotline.stack.milvus_server install
