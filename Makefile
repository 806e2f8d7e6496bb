# driverpay: `make demo` runs the real job embedded; `make test` installs everything and tests it.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := .out/demo
DEMO_ORDERS ?= 20000

.PHONY: bootstrap jars demo test lint typecheck up down submit upgrade sql bench bench-api clean

bootstrap:
	@scripts/bootstrap.sh

jars: bootstrap
	@scripts/stack/jars.sh

demo: jars
	$(BIN)/driverpay demo --output $(DEMO_DIR) --orders $(DEMO_ORDERS)

lint: bootstrap
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: bootstrap
	$(BIN)/mypy

test: bootstrap jars lint typecheck
	$(BIN)/pytest

up: jars
	scripts/stack/up.sh

down:
	scripts/stack/down.sh

submit: jars
	scripts/stack/submit.sh

# Stop with a savepoint, fresh TaskManagers, resubmit the working tree from it (PARALLELISM=P rescales).
upgrade: jars
	$(if $(PARALLELISM),DRIVERPAY_PARALLELISM=$(PARALLELISM)) $(if $(TASKMANAGERS),DRIVERPAY_TASKMANAGERS=$(TASKMANAGERS)) scripts/stack/upgrade.sh

# Flink SQL over the topics and tables (docs/contracts.md §10); QUERY=file runs it in batch mode, VARS="k=v ..."
sql: jars
	scripts/stack/sql.sh $(if $(QUERY),-f $(QUERY)) $(foreach v,$(VARS),-D $(v))

# Throughput, latency, checkpoints and TaskManager memory of the deployed job against a pure SQL
# baseline (README, "Benchmark"); resets topics and tables. BENCH_ARGS="--quick" for a smoke run.
bench: up
	$(BIN)/python -m driverpay.bench $(BENCH_ARGS)

# The read API under vegeta: p50/p99 at 1,000 requests/s and the maximum sustainable rate (README,
# "Read path under load"); PostgreSQL only, no Flink. BENCH_API_ARGS="--quick" for a smoke run.
bench-api: bootstrap
	$(BIN)/python -m driverpay.bench_api $(BENCH_API_ARGS)

# Stops the stack first: removing .run under running services would orphan them (their pids
# and data live there, or under /var/tmp for PostgreSQL when it cannot enter the checkout).
clean:
	if [ -d .run ]; then scripts/stack/down.sh && d="$$(scripts/stack/postgres.sh dir)" && \
	  case "$$d" in /var/tmp/driverpay-pg-*) rm -rf "$$d" ;; esac; fi
	rm -rf .out .run
