#!/usr/bin/env bash
# Start the platform on embedded defaults: a project-local Dagster instance, the DuckDB file and
# the landing zone under data/, the FPR and PayScore APIs on loopback, and local secrets generated
# once into .finmatch/secrets.env; then land the initial history and build everything once, with
# progress (FINMATCH_INITIAL_LOAD=0 skips that). Ctrl-C stops every process started here.
set -euo pipefail
cd "$(dirname "$0")/.."

export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
export FINMATCH_DATA_DIR="${FINMATCH_DATA_DIR:-$PWD/data}"
export FINMATCH_LANDING_DIR="${FINMATCH_LANDING_DIR:-$FINMATCH_DATA_DIR/landing}"
mkdir -p "$DAGSTER_HOME" "$FINMATCH_DATA_DIR"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp scripts/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

# Secrets come only from the environment; for a local run we make random ones once. A secrets
# file from before a key was added gets only the missing key appended: existing keys never rotate.
if [ -z "${FINMATCH_API_KEY:-}" ] || [ -z "${FINMATCH_MASKING_KEY:-}" ] || [ -z "${FINMATCH_PAYSCORE_API_KEY:-}" ]; then
  mkdir -p .finmatch
  (umask 077 && .venv/bin/python -c '
import pathlib, secrets
path = pathlib.Path(".finmatch/secrets.env")
text = path.read_text() if path.exists() else ""
have = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
missing = [n for n in ("FINMATCH_API_KEY", "FINMATCH_MASKING_KEY", "FINMATCH_PAYSCORE_API_KEY") if n not in have]
if missing:
    with path.open("a") as out:
        if text and not text.endswith("\n"):
            out.write("\n")
        out.writelines(f"{name}={secrets.token_urlsafe(32)}\n" for name in missing)')
  set -a; . .finmatch/secrets.env; set +a
fi

# The first start fixes the calendar: daily partitions begin FINMATCH_HISTORY_DAYS (default 30)
# before today, so the initial load lands that much history. Kept beside the data so the
# partitions stay put across restarts; removing the data directory starts the bank over.
if [ -z "${FINMATCH_START_DATE:-}" ]; then
  if [ ! -f "$FINMATCH_DATA_DIR/platform.env" ]; then
    .venv/bin/python -c '
import datetime as dt
from finmatch_platform.settings import Settings
days = Settings.from_env().history_days
print(f"FINMATCH_START_DATE={dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days)}")' \
      > "$FINMATCH_DATA_DIR/platform.env"
  fi
  set -a; . "$FINMATCH_DATA_DIR/platform.env"; set +a
fi

API_PORT="${FINMATCH_API_PORT:-8765}"
export FINMATCH_API_URL="${FINMATCH_API_URL:-http://127.0.0.1:$API_PORT}"
PAYSCORE_PORT="${FINMATCH_PAYSCORE_PORT:-8766}"
export FINMATCH_PAYSCORE_BASE_URL="${FINMATCH_PAYSCORE_BASE_URL:-http://127.0.0.1:$PAYSCORE_PORT}"
UI_HOST="${FINMATCH_UI_HOST:-127.0.0.1}"
UI_PORT="${FINMATCH_UI_PORT:-3000}"
LOGS="$FINMATCH_DATA_DIR"

pids=()
loader=""
# Every process below a pid, children first found first (dagster dev's webserver, daemon and code
# servers, and the run workers they start, some of them in process groups of their own).
descendants() { local child; for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done; }
cleanup() {
  trap - EXIT INT TERM
  [ -n "$loader" ] && kill -TERM "$loader" 2>/dev/null || true
  local everyone=()
  for pid in "${pids[@]}"; do everyone+=("$pid" $(descendants "$pid")); done
  # Signal each service's process group, as Ctrl-C in a terminal does, so dagster dev shuts its
  # children down in order; then wait for every process seen above, and kill what is left.
  for pid in "${pids[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0
    for pid in "${everyone[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${everyone[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
# Ctrl-C is how the platform is meant to stop: a clean exit, not an error for make to report.
trap 'cleanup; exit 0' INT TERM

setsid .venv/bin/finmatch-api --host 127.0.0.1 --port "$API_PORT" > "$LOGS/finmatch-api.log" 2>&1 &
pids+=($!)
echo "FinMatch FPR API:  $FINMATCH_API_URL (docs at $FINMATCH_API_URL/docs, log in $LOGS/finmatch-api.log)"
setsid .venv/bin/finmatch-payscore-api --host 127.0.0.1 --port "$PAYSCORE_PORT" > "$LOGS/finmatch-payscore-api.log" 2>&1 &
pids+=($!)
echo "PayScore API:      $FINMATCH_PAYSCORE_BASE_URL (docs at $FINMATCH_PAYSCORE_BASE_URL/docs, log in $LOGS/finmatch-payscore-api.log)"
echo "FinMatch Dagster:  http://$UI_HOST:$UI_PORT  (Ctrl-C stops everything)"
setsid .venv/bin/dagster dev -w workspace.yaml -h "$UI_HOST" -p "$UI_PORT" > "$LOGS/dagster.log" 2>&1 &
pids+=($!)
echo "Dagster log:       $LOGS/dagster.log"

# Land the history (or the days missed while stopped) and build everything once, with progress.
# In the background and waited for, so Ctrl-C reaches the trap at once (bash runs a trap only
# after a foreground command returns, but interrupts `wait`).
if [ "${FINMATCH_INITIAL_LOAD:-1}" != "0" ]; then
  .venv/bin/python -m finmatch_platform.initial_load --url "http://$UI_HOST:$UI_PORT" &
  loader=$!
  wait "$loader" \
    || echo "The initial load did not finish; the platform keeps running (see the UI and $LOGS/dagster.log)."
  loader=""
fi
wait -n "${pids[@]}"
