# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# The page test drives headless Chromium with playwright-core (Node) from here.
BROWSER := tests/browser
# The trace console's graph library (cytoscape from npm), served by `traces serve`: no CDN.
CONSOLE := shared/telemetry/traces/console
# Every benchmark script (bench/support.py and the package marker are not benchmarks).
BENCHES := $(filter-out bench/__init__.py bench/support.py,$(wildcard bench/*.py))

.PHONY: run test lint typecheck pytest unit integration e2e browser console bench traces redrive asyncapi openapi proto clean clean-data embedded

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) (once; log in $(VENV)/install.log)"
	@( $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[dev]' ) \
		> $(VENV)/install.log 2>&1 || (tail -40 $(VENV)/install.log; exit 1)
	@rm -f $(VENV)/.installed-*
	@touch $@

## embedded: build FerretDB (Go) and fetch Kafka's jars (Maven) once, into .run/
embedded: $(STAMP)
	@$(BIN)/python -m shared.stack.embedded

## run: the whole stack on this machine (FerretDB + Kafka + every service), Ctrl-C stops it
run: $(STAMP) embedded
	@$(BIN)/surge-stack

## test: lint, format check, strict types, then every test (unit, integration, e2e)
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser console embedded
	$(BIN)/pytest

unit integration: $(STAMP) embedded
	$(BIN)/pytest -m $@

e2e: $(STAMP) browser console embedded
	$(BIN)/pytest -m $@

## browser: Debian's chromium and playwright-core (tests/browser/node_modules) for the page test
browser: $(BROWSER)/node_modules/.package-lock.json
	@test -x /usr/bin/chromium || if [ "$$(id -u)" = 0 ]; then \
		apt-get update && apt-get install -y chromium || exit 1; \
	else echo "the page test needs chromium: sudo apt-get update && sudo apt-get install -y chromium"; exit 1; fi

$(BROWSER)/node_modules/.package-lock.json: $(BROWSER)/package.json $(BROWSER)/package-lock.json
	@command -v npm >/dev/null || if [ "$$(id -u)" = 0 ]; then \
		apt-get update && apt-get install -y nodejs npm || exit 1; \
	else echo "the page test needs Node.js: sudo apt-get install -y nodejs npm"; exit 1; fi
	cd $(BROWSER) && npm ci --no-audit --no-fund

## bench: every benchmark, quick mode
bench: $(STAMP) embedded
	@if ! command -v nginx >/dev/null && ! test -x /usr/sbin/nginx || ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y nginx-light wrk || exit 1; \
		else echo "bench needs nginx and wrk: sudo apt-get update && sudo apt-get install -y nginx-light wrk"; exit 1; fi; \
	fi
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

## traces: the trace tools (`ARGS=map`, `ARGS="find '<expression>'"`, `ARGS=serve` for the console)
traces: $(STAMP) console
	@$(BIN)/traces $(ARGS)

console: $(CONSOLE)/node_modules/.package-lock.json

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || if [ "$$(id -u)" = 0 ]; then \
		apt-get update && apt-get install -y nodejs npm || exit 1; \
	else echo "the trace console needs Node.js: sudo apt-get install -y nodejs npm"; exit 1; fi
	cd $(CONSOLE) && npm ci --no-audit --no-fund

redrive: $(STAMP)
	@$(BIN)/redrive $(ARGS)

## asyncapi: regenerate docs/asyncapi.yaml from the event catalog
asyncapi: $(STAMP)
	$(BIN)/python -m shared.events.asyncapi > docs/asyncapi.yaml

## openapi: regenerate docs/*-openapi.json from the services' code
openapi: $(STAMP)
	$(BIN)/python -m services.gateway.openapi > docs/gateway-openapi.json
	$(BIN)/python -m services.ingest.openapi > docs/ingest-openapi.json
	$(BIN)/python -m services.avatars.openapi > docs/avatars-openapi.json
	$(BIN)/python -m services.accounts.openapi > docs/accounts-openapi.json

## proto: regenerate the committed protobuf code (shared/events/proto/*_pb2.py, .pyi)
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. shared/events/proto/*.proto

## clean: the venv, caches, logs and built servers; never the data (see clean-data)
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .run/bin .run/kafka .run/logs .run/spans

## clean-data: every stored document, event and generated secret of `make run`
clean-data:
	rm -rf .run/data .run/secrets.env
