#!/usr/bin/env bash
# Build and test every client library (clients/*) against one live server in the embedded mode.
#   scripts/test_clients.sh              all clients
#   scripts/test_clients.sh python js    some of them (python, js, unity, unreal)
# Installs the toolchains it needs from the distribution's packages (apt-get) and npm when they
# are missing; quick when they are present. The server is clients/testserver.py: a fresh SQLite
# database under var/clients/, daphne, a fake LLM at the wire, a restart control endpoint and a
# misbehaving WebSocket server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(python js unity unreal)
wants() { [[ " ${CLIENTS[*]} " == *" $1 "* ]]; }
step() { printf '\n==> clients: %s\n' "$*"; }

apt_updated=0
apt_install() {  # apt_install PACKAGE... (only when some are missing)
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing packages: ${missing[*]} (install them with apt-get)" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  if [ $apt_updated = 0 ]; then apt-get update -q >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

step "toolchains"
wants js && { command -v node >/dev/null || apt_install nodejs npm; apt_install chromium; }
wants unity && apt_install mono-mcs mono-runtime libmono-system-net-http4.0-cil
wants unreal && apt_install g++ make libboost-dev

if wants js; then
  step "js: install (npm ci, when the lockfile changed) and build"
  make -s -C clients/js build
fi
wants unity && { step "unity: compile"; make -s -C clients/unity build; }
wants unreal && { step "unreal: compile (core, tests, example; glue against stub headers)"; make -s -j2 -C clients/unreal build; }

step "live server"
STATE=$ROOT/var/clients/state-$$.json
mkdir -p var/clients
find var/clients -maxdepth 1 -name 'run-*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
.venv/bin/python clients/testserver.py --state "$STATE" > var/clients/testserver-$$.log 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; rm -f "$STATE"' EXIT
for _ in $(seq 1200); do
  [ -f "$STATE" ] && break
  kill -0 $SERVER_PID 2>/dev/null || { cat var/clients/testserver-$$.log; exit 1; }
  sleep 0.1
done
[ -f "$STATE" ] || { echo "the test server did not start" >&2; cat var/clients/testserver-$$.log; exit 1; }
eval "$(.venv/bin/python - "$STATE" <<'PY'
import json, shlex, sys
s = json.load(open(sys.argv[1]))
for k, env in [("url", "URL"), ("key", "KEY"), ("read_key", "READ_KEY"), ("admin_key", "ADMIN_KEY"),
               ("control", "CONTROL"), ("bad_url", "BAD_URL"), ("reply", "REPLY"), ("http", "HTTP"),
               ("page", "PAGE")]:
    print(f"export PERSONAMCP_{env}={shlex.quote(s[k])}")
PY
)"
echo "server $PERSONAMCP_URL (log: $(dirname "$STATE")/run-$SERVER_PID/server.log)"

if wants python; then
  step "python: pytest"
  (cd clients/python && PYTHONPATH=src "$ROOT/.venv/bin/pytest" -p no:django -p no:cacheprovider -q)
fi
wants js && { step "js: node --test and headless Chromium"; make -s -C clients/js test; }
# An examples/chat run prints the deltas, then the result as one JSON line whose response they form.
check_chat() {
  "$@" | .venv/bin/python -c '
import json, sys
deltas, last = sys.stdin.read().rstrip("\n").rsplit("\n", 1)
assert deltas == json.loads(last)["response"], (deltas, last)
print("examples/chat: ok")'
}
if wants unity; then
  step "unity: tests on Mono"
  make -s -C clients/unity test
  check_chat make -s -C clients/unity example ARGS="$PERSONAMCP_URL rook Hello"
fi
if wants unreal; then
  step "unreal: tests (g++, Boost.Beast transport)"
  make -s -C clients/unreal test
  check_chat make -s -C clients/unreal example ARGS="$PERSONAMCP_URL rook Hello"
fi
step "docs/protocol.md: the client programs, as written"
SNIPPETS=()
wants python && SNIPPETS+=(python)
wants js && SNIPPETS+=(js)
wants unity && SNIPPETS+=(csharp)
wants unreal && SNIPPETS+=(cpp)
.venv/bin/python clients/check_snippets.py "${SNIPPETS[@]}"
step "all client tests passed (${CLIENTS[*]})"
