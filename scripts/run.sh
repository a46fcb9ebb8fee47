#!/usr/bin/env bash
# Start the platform on embedded defaults: a project-local Dagster instance, the DuckDB file and
# the landing zone under data/ (both owner-only), the FPR and PayScore APIs on loopback, and local
# secrets generated once into .finmatch/secrets.env; then land the initial history and build
# everything once, with progress (FINMATCH_INITIAL_LOAD=0 skips that).
#
# The set-up and the processes belong to finmatch_platform/launcher.py, which uses the operating
# system's guarantees to stop every process it started, within 20 s: on Ctrl-C, on SIGINT, SIGTERM
# or SIGHUP to it, and when it is killed with SIGKILL. exec, so this script's pid is the
# launcher's and a signal sent to it reaches the launcher.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m finmatch_platform.launcher
