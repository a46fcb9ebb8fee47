"""The platform as a user runs it: ``scripts/run.sh`` (what ``make run`` calls) in a temporary
directory, with the real FPR API, ``dagster dev`` (webserver and daemon, with its backfill,
sensor, automation and run-queue daemons) and a DuckDB file, on free loopback ports.

Started once per session and driven through the webserver's GraphQL API, as the UI does. The
initial load and the automation sensor are off (``FINMATCH_INITIAL_LOAD=0``,
``FINMATCH_AUTOMATION=0``) so the tests choose what runs when; the
calendar starts four days ago, so there are four daily partitions to work with. Its secrets file
is one an earlier run left with other keys than the ones exported here (see ``FILE_SECRETS``).

Also the pieces for starting ``scripts/run.sh`` elsewhere and checking its processes by pid.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psutil
import pytest

from finmatch_platform.webserver_client import RUN_DONE, RunState, WebserverClient
from finmatch_platform_tests.helpers.core import REPO_ROOT, SMALL_CUSTOMERS, TEST_MASKING_KEY
from finmatch_platform_tests.helpers.servers import free_port

ROOT = REPO_ROOT
LIVE_DAYS = 4
LIVE_API_KEY = "live-platform-api-key-8e2f"
SENSOR_INTERVAL_S = 5
STARTUP_TIMEOUT_S = 240
# A secrets file as an earlier `make run` left it: other values for the two keys the platform's
# environment exports (which must win) and the PayScore key, which it does not export.
FILE_API_KEY = "api-key-from-an-older-secrets-file-1b7"
FILE_MASKING_KEY = "masking-key-from-an-older-secrets-file-9d"
FILE_PAYSCORE_KEY = "payscore-key-from-the-secrets-file-4c2a"
FILE_SECRETS = (
    f"FINMATCH_API_KEY={FILE_API_KEY}\nFINMATCH_MASKING_KEY={FILE_MASKING_KEY}\n"
    f"FINMATCH_PAYSCORE_API_KEY={FILE_PAYSCORE_KEY}\n"
)


@dataclass
class LivePlatform:
    root: Path
    data_dir: Path
    dagster_home: Path
    ui_url: str
    api_url: str
    payscore_url: str
    days: list[dt.date]
    process: subprocess.Popen[bytes]
    log: Path
    client: WebserverClient

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse" / "finmatch.duckdb"

    @property
    def env(self) -> dict[str, str]:
        return _platform_env(self)

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    def processes(self) -> list[psutil.Process]:
        """Every process the launcher started, and their descendants."""
        return descendants(self.process.pid)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def snapshot(self, into: Path) -> duckdb.DuckDBPyConnection:
        """A read-only connection to a copy of the warehouse (the file and its WAL).

        A test reading the live file would hold DuckDB's lock and make the platform's next writer
        wait (or dbt fail); a copy taken while no run writes costs milliseconds and holds nothing.
        """
        into.mkdir(parents=True, exist_ok=True)
        target = into / self.warehouse.name
        for suffix in ("", ".wal"):
            source = Path(str(self.warehouse) + suffix)
            if source.exists():
                shutil.copyfile(source, Path(str(target) + suffix))
        return duckdb.connect(str(target), read_only=False)

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 1.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"the platform exited ({self.process.returncode}):\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                summary = ", ".join(f"{r.job}:{r.status}" for r in self.client.runs())
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; runs: {summary}")
            time.sleep(poll_s)

    def wait_until_quiet(self, timeout_s: float = 420, quiet_s: float = 3 * SENSOR_INTERVAL_S) -> list[RunState]:
        """Wait until no run is queued or running for ``quiet_s`` (long enough for every sensor to
        have ticked again and requested nothing): what the platform does on its own is done."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while True:
            runs = self.client.runs()
            if any(r.status not in RUN_DONE for r in runs):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return runs
            if time.monotonic() > deadline:
                busy = ", ".join(f"{r.job}:{r.status}" for r in runs if r.status not in RUN_DONE)
                raise AssertionError(f"the platform did not settle within {timeout_s:.0f} s (still: {busy})")
            time.sleep(1.0)


def _platform_env(platform: LivePlatform) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINMATCH_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(platform.dagster_home),
        FINMATCH_DATA_DIR=str(platform.data_dir),
        FINMATCH_UI_HOST="127.0.0.1",
        FINMATCH_UI_PORT=platform.ui_url.rsplit(":", 1)[1],
        FINMATCH_API_PORT=platform.api_url.rsplit(":", 1)[1],
        FINMATCH_API_URL=platform.api_url,
        FINMATCH_PAYSCORE_PORT=platform.payscore_url.rsplit(":", 1)[1],
        FINMATCH_PAYSCORE_BASE_URL=platform.payscore_url,
        FINMATCH_SECRETS_FILE=str(platform.secrets_file),
        FINMATCH_API_KEY=LIVE_API_KEY,
        FINMATCH_MASKING_KEY=TEST_MASKING_KEY,
        FINMATCH_START_DATE=platform.days[0].isoformat(),
        FINMATCH_CUSTOMERS=str(SMALL_CUSTOMERS),
        FINMATCH_DAILY_NEW_CUSTOMERS="3",
        FINMATCH_SEED="7",
        FINMATCH_SENSOR_INTERVAL_SECONDS=str(SENSOR_INTERVAL_S),
        FINMATCH_INITIAL_LOAD="0",
        # Declarative automation adds a run per layer after every change: correct, but it would
        # make the tests' timing the automation's. The runs under test are launched explicitly.
        FINMATCH_AUTOMATION="0",
    )
    return env


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    """Ctrl-C as a terminal sends it (SIGINT to the script's process group), then wait; the
    script stops every process it started. SIGTERM (the same cleanup) and SIGKILL only if not."""
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 45), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


def start_run_sh(env: dict[str, str], log: Path, *, ignored: Sequence[signal.Signals] = ()) -> subprocess.Popen[bytes]:
    """``bash scripts/run.sh`` in a session of its own, like a terminal's foreground job (SIGINT to
    its process group is Ctrl-C), with the ``ignored`` signals ignored (a script's ``make run &``
    ignores SIGINT, ``nohup`` SIGHUP) and SIGINT otherwise at its default, whatever the test
    process does with it for a moment (Dagster's in-process runs shield themselves from it)."""

    def dispositions() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)

    with log.open("wb") as out:
        return subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=dispositions,
        )


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(process: psutil.Process) -> bool:
    # A zombie has exited; only its parent's wait is missing (or init's, for an orphan).
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until none of ``processes`` runs (by pid and start time, so a reused pid is not
    them), at most ``timeout_s``; return those still running then."""
    deadline = time.monotonic() + timeout_s
    while (alive := [p for p in processes if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def command(process: psutil.Process) -> str:
    """What a process runs, as typed: ``finmatch-api --host ...`` for a console script,
    ``dagster_webserver --port ...`` for ``python -m dagster_webserver``."""
    argv = process.cmdline()
    if argv and Path(argv[0]).name.startswith("python"):
        argv = [a for a in argv[1:] if a not in ("-B", "-u")]
        argv = argv[1:] if argv[:1] == ["-m"] else argv
    return " ".join([Path(argv[0]).name, *argv[1:]]) if argv else ""


def service(processes: list[psutil.Process], program: str) -> psutil.Process:
    """The one process in ``processes`` whose command starts with ``program``."""
    found = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if f"{command(process)} ".startswith(f"{program} "):
                found.append(process)
    assert len(found) == 1, f"expected one {program!r} process, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session")
def live_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    root = tmp_path_factory.mktemp("live-platform")
    today = dt.datetime.now(dt.UTC).date()
    platform = LivePlatform(
        root=root,
        data_dir=root / "data",
        dagster_home=root / "dagster_home",
        ui_url=f"http://127.0.0.1:{free_port()}",
        api_url=f"http://127.0.0.1:{free_port()}",
        payscore_url=f"http://127.0.0.1:{free_port()}",
        days=[today - dt.timedelta(days=LIVE_DAYS - i) for i in range(LIVE_DAYS)],
        process=None,  # type: ignore[arg-type]
        log=root / "run.log",
        client=None,  # type: ignore[arg-type]
    )
    platform.secrets_file.write_text(FILE_SECRETS, encoding="utf-8")
    platform.process = start_run_sh(platform.env, platform.log)
    platform.client = WebserverClient(platform.ui_url)
    try:
        platform.client.wait_until_loaded(timeout_s=STARTUP_TIMEOUT_S)
        yield platform
    finally:
        _stop(platform.process)
        leftovers = processes_with_env("DAGSTER_HOME", str(platform.dagster_home))
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"processes outlived the platform's Ctrl-C: {leftovers}"


def processes_with_env(name: str, value: str) -> list[int]:
    """Live processes whose environment has ``name=value`` (every process run.sh started has
    its DAGSTER_HOME, the API server included)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
    return found
