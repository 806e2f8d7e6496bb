# driverpay: `make demo` runs the real job embedded; `make test` installs everything and tests it.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := .out/demo
DEMO_ORDERS ?= 20000

.PHONY: bootstrap jars demo test lint typecheck unit flink-tests stack-tests up down submit clean

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

clean:
	rm -rf .out .run
