#!/usr/bin/env bash
# Start the platform on embedded defaults: a project-local Dagster instance, the DuckDB file and
# the landing zone under data/, the FPR API on loopback, and local secrets generated once into
# .finmatch/secrets.env. Ctrl-C stops every process started here.
set -euo pipefail
cd "$(dirname "$0")/.."

export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
mkdir -p "$DAGSTER_HOME" .finmatch data
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp scripts/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

# Secrets come only from the environment; for a local run we make random ones once.
if [ ! -f .finmatch/secrets.env ]; then
  (umask 077 && .venv/bin/python -c '
import secrets
for name in ("FINMATCH_API_KEY", "FINMATCH_MASKING_KEY"):
    print(f"{name}={secrets.token_urlsafe(32)}")' > .finmatch/secrets.env)
fi
set -a; . .finmatch/secrets.env; set +a

export FINMATCH_LANDING_DIR="${FINMATCH_LANDING_DIR:-$PWD/data/landing}"
API_PORT="${FINMATCH_API_PORT:-8765}"
export FINMATCH_API_URL="${FINMATCH_API_URL:-http://127.0.0.1:$API_PORT}"
UI_HOST="${FINMATCH_UI_HOST:-127.0.0.1}"
UI_PORT="${FINMATCH_UI_PORT:-3000}"

pids=()
cleanup() {
  trap - EXIT INT TERM
  # Each service runs in its own process group: signal the whole group, as Ctrl-C does, so the
  # webserver, daemon and code servers that dagster dev starts stop with it.
  for pid in "${pids[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

setsid .venv/bin/finmatch-api --host 127.0.0.1 --port "$API_PORT" > data/finmatch-api.log 2>&1 &
pids+=($!)
echo "FinMatch FPR API:  $FINMATCH_API_URL (docs at $FINMATCH_API_URL/docs, log in data/finmatch-api.log)"
echo "FinMatch Dagster:  http://$UI_HOST:$UI_PORT  (Ctrl-C stops everything)"
setsid .venv/bin/dagster dev -w workspace.yaml -h "$UI_HOST" -p "$UI_PORT" &
pids+=($!)
wait -n "${pids[@]}"
