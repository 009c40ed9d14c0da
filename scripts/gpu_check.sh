#!/usr/bin/env bash
# The GPU path, checked for real in one run (bench/gpu_check.py says what): CUDA in use, CUDA and
# CPU outputs agree, the encoder's batch sweep. Run it on any GPU machine after `make setup`.
# Exit 0: all hold; 1: a check failed; 2: no GPU here. Results: bench/results/gpu_check.json,
# or $OUT/gpu_check.json when OUT is set (the device runner's output folder). Arguments go to
# bench.gpu_check (`--rehearse`: every step on the CPU, to prove the script without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:+$OUT/gpu_check.json}"
PYTHONPATH=src:. exec .venv/bin/python -m bench.gpu_check ${out:+--out "$out"} "$@"
