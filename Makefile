# Persona-MCP: `make run` sets up and starts the server (embedded mode); `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run serve setup test lint bench static-embeddings worker beat clean prod-check screenshots

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py ensure_admin
	$(PY) manage.py prepare_embeddings

## First command: set up and run the server in the embedded mode on 127.0.0.1:8000.
## Local development mode (anonymous access) unless PERSONAMCP_DEV_MODE=0.
run: setup
	@echo ""
	@echo "  Persona-MCP on http://$(HOST):$(PORT)/"
	@echo "    web chat      http://$(HOST):$(PORT)/"
	@echo "    admin         http://$(HOST):$(PORT)/admin/"
	@echo "    API docs      http://$(HOST):$(PORT)/api/docs/"
	@echo "    WebSocket     ws://$(HOST):$(PORT)/mcp   (JSON-RPC 2.0; POST /mcp for MCP HTTP)"
	@echo ""
	PERSONAMCP_DEV_MODE=$${PERSONAMCP_DEV_MODE:-1} $(VENV)/bin/daphne -b $(HOST) -p $(PORT) personamcp.asgi:application

## The same without local development mode: every client needs an API key.
serve: setup
	PERSONAMCP_DEV_MODE=0 $(VENV)/bin/daphne -b $(HOST) -p $(PORT) personamcp.asgi:application

## Second command: lint, migrations check, the whole suite in the embedded and the scaled mode.
test:
	bash scripts/test.sh

## The docker-compose topology without containers (PostgreSQL+pgvector, Redis, two daphne
## behind nginx, Celery worker and beat, a Matrix homeserver) and a smoke test through nginx.
prod-check: $(VENV)/.installed
	$(PY) scripts/prod_check.py

## Pictures of the admin dashboard for the README (docs/img/).
screenshots: $(VENV)/.installed
	$(PY) scripts/screenshots.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Every row of the performance table, each with its floor measured in the same run, both modes
## (bench/README.md). BENCH_ARGS=--quick for a short run, --million for 1M memories on PostgreSQL.
bench: $(VENV)/.installed
	$(PY) bench/run_all.py $(BENCH_ARGS)

## The static embedding model (EMBEDDING_MODEL=static), distilled from the packaged MiniLM with
## model2vec in its own venv under var/ (no download of any model).
static-embeddings: $(VENV)/.installed
	$(PY) manage.py distill_static_embeddings

worker: $(VENV)/.installed
	$(VENV)/bin/celery -A personamcp worker --loglevel=info

beat: $(VENV)/.installed
	$(VENV)/bin/celery -A personamcp beat --loglevel=info --schedule var/celerybeat-schedule

clean:
	$(PY) scripts/services.py down || true
	rm -rf var/services var/test_*.sqlite3*
