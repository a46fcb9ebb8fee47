"""``finmatch-initial-load``: bring a started platform up to date and show the progress.

``make run`` calls it once Dagster is up. It asks the webserver which days the source systems
have landed and which days the daily facts cover, then (see ``lib/load_plan.py``):

1. launches one asset backfill that lands the missing days (the source chain), and
2. one run of ``refresh_warehouse`` over the days to build (extraction, masking, dbt, reports),

printing a line of progress as they go, until every asset is materialized. On a fresh instance
that is the whole initial history; after a restart, only what the platform missed while it was
stopped. Everything goes through the webserver's GraphQL API, so it all shows in the UI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from finmatch_platform.lib.load_plan import LoadPlan, format_elapsed, plan_load, progress_line
from finmatch_platform.webserver_client import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    RUN_DONE,
    AssetNode,
    WebserverClient,
    WebserverError,
)

LOCATION = "finmatch_platform"
BUILD_JOB = "refresh_warehouse"
SOURCE_GROUPS = ("synthetic", "ingestion")
# A day is landed when these partitions are materialized (the source chain's first and last
# step), and built when the facts' one is.
LANDED_ASSET = ("landing", "customers")
LOADED_ASSET = ("raw", "transactions")
BUILT_ASSET = ("marts", "fct_transactions_daily")
LOAD_TAG = "finmatch/initial_load"


def _default_url() -> str:
    host = os.environ.get("FINMATCH_UI_HOST") or "127.0.0.1"
    port = os.environ.get("FINMATCH_UI_PORT") or "3000"
    return f"http://{host}:{port}"


class LoadFailed(RuntimeError):
    pass


class _Progress:
    """Prints a progress line when something changed, and every 30 s so a long step shows life."""

    def __init__(self, client: WebserverClient, nodes: list[AssetNode], out: TextIO) -> None:
        self.client, self.nodes, self.out = client, nodes, out
        self.by_path = {n.path: n for n in nodes}
        self.started = time.monotonic()
        self.wall_started = time.time()
        self.last: tuple[object, ...] = ()
        self.last_at = 0.0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, step: str, status: str) -> None:
        states = self.client.asset_states(self.by_path)
        fresh = sum(1 for s in states if s.materialized_at is not None and s.materialized_at >= self.wall_started)
        groups = sorted({self.by_path[s.path].group for s in states if s.in_progress})
        shown = (step, status, fresh, groups)
        if shown != self.last or time.monotonic() - self.last_at > 30:
            self.say(progress_line(self.elapsed(), step, status, fresh, len(self.nodes), groups))
            self.last, self.last_at = shown, time.monotonic()


def _wait(poll: Callable[[], tuple[str, bool]], progress: _Progress, step: str, timeout_s: float, poll_s: float) -> str:
    while True:
        status, done = poll()
        progress.update(step, status)
        if done:
            return status
        if progress.elapsed() > timeout_s:
            raise LoadFailed(f"{step} still running after {format_elapsed(progress.elapsed())}; follow it in the UI")
        time.sleep(poll_s)


def _plan(client: WebserverClient, nodes: list[AssetNode]) -> LoadPlan:
    states = client.asset_states(n.path for n in nodes)
    labels = {n.path: n.label for n in nodes}
    all_days, landed = client.partitions(LANDED_ASSET)
    return plan_load(
        all_days,
        landed,
        client.partitions(BUILT_ASSET)[1],
        [labels[s.path] for s in states if s.materialized_at is None],
    )


def run_initial_load(client: WebserverClient, *, timeout_s: float, poll_s: float, out: TextIO = sys.stdout) -> int:
    client.wait_until_loaded()
    nodes = [n for n in client.asset_nodes() if n.materializable]
    progress = _Progress(client, nodes, out)
    plan = _plan(client, nodes)
    progress.say(f"Initial load: {plan.describe()}")
    if plan.build is None:
        return 0
    try:
        if plan.land is not None:
            source = [n for n in nodes if n.group in SOURCE_GROUPS]
            backfill_id = client.launch_asset_backfill(
                [n.path for n in source if n.partitioned],
                [n.path for n in source if not n.partitioned],
                plan.land,
                title=f"FinMatch: land {plan.land[0]} to {plan.land[1]}",
                tags={LOAD_TAG: "land"},
            )
            progress.say(f"Initial load: landing backfill {backfill_id} ({client.url}/runs/b/{backfill_id}?tab=runs)")

            first, last = plan.land
            days = {d for d in client.partitions(LANDED_ASSET)[0] if first <= d <= last}

            def poll_backfill() -> tuple[str, bool]:
                state = client.backfill(backfill_id)
                if state.done:
                    return state.status, True
                # The daemon marks a backfill complete on its next pass, up to 30 s after its
                # last run; once that run succeeded and every day is loaded, move on.
                runs_done = bool(state.runs) and set(state.runs) <= {"SUCCESS"}
                loaded = runs_done and all(days <= client.partitions(a)[1] for a in (LANDED_ASSET, LOADED_ASSET))
                return ("LANDED" if loaded else state.status), loaded

            status = _wait(poll_backfill, progress, "land", timeout_s, poll_s)
            landed = client.backfill(backfill_id)
            if status != "LANDED" and not landed.succeeded:
                raise LoadFailed(
                    f"the landing backfill ended {landed.status}{': ' + landed.error if landed.error else ''}; "
                    f"see {client.url}/runs/b/{backfill_id}?tab=runs and re-execute its failed runs"
                )

        first, last = plan.build
        run_id = client.launch_job(
            BUILD_JOB, location=LOCATION, tags={RANGE_START_TAG: first, RANGE_END_TAG: last, LOAD_TAG: "build"}
        )
        progress.say(f"Initial load: build run {run_id[:8]} for {first} to {last} ({client.url}/runs/{run_id})")

        def poll_run() -> tuple[str, bool]:
            status = client.run_status(run_id)
            return status, status in RUN_DONE

        status = _wait(poll_run, progress, "build", timeout_s, poll_s)
        if status != "SUCCESS":
            raise LoadFailed(f"the build run ended {status}; see {client.url}/runs/{run_id}")
    except LoadFailed as exc:
        progress.say(f"Initial load FAILED: {exc}")
        return 1

    missing = _plan(client, nodes).unmaterialized
    if missing:
        progress.say(f"Initial load: finished, but never materialized: {', '.join(missing)}")
        return 1
    progress.say(
        f"Initial load: done in {format_elapsed(progress.elapsed())}, all {len(nodes)} assets materialized. "
        "From here the schedule lands each new day, the sensor pulls the FPR API and automation follows."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="finmatch-initial-load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=_default_url(), help="the Dagster webserver (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up following after this many seconds")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between progress checks")
    args = parser.parse_args(argv)
    try:
        return run_initial_load(WebserverClient(args.url), timeout_s=args.timeout, poll_s=args.poll)
    except WebserverError as exc:
        print(f"Initial load: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
