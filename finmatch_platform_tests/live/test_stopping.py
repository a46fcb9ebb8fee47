"""``make run`` stops every process it started, within 20 s, whichever of the four ways it is
stopped: Ctrl-C in a terminal, SIGINT or SIGTERM to the launcher started in the background (as a
script's ``make run &`` or CI starts it, with SIGINT ignored, and ``nohup`` with SIGHUP ignored too),
and SIGKILL to the launcher.

Each test starts ``scripts/run.sh`` as ``make run`` does, without the initial load, on free ports
with its own data directory and DAGSTER_HOME; waits until the webserver has loaded the code
location and both APIs answer (so dagster dev's webserver, daemon and code servers are up);
collects every pid below the launcher; stops it; and checks by pid (and start time) that none is
left 20 s later, nor any other process with its DAGSTER_HOME.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from finmatch_platform.webserver_client import WebserverClient
from finmatch_platform_tests.helpers.core import TEST_MASKING_KEY
from finmatch_platform_tests.helpers.live import (
    LIVE_API_KEY,
    STARTUP_TIMEOUT_S,
    command,
    descendants,
    processes_with_env,
    service,
    start_run_sh,
    still_running,
)
from finmatch_platform_tests.helpers.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STOP_WITHIN_S = 20
# What must be running before a stop means anything: the launcher's services and dagster dev's own.
PROGRAMS = ("finmatch-api", "finmatch-payscore-api", "dagster dev", "dagster_webserver", "dagster._daemon run")
BACKGROUND = (signal.SIGINT,)  # what a non-interactive shell's `make run &` ignores
NOHUP = (signal.SIGINT, signal.SIGHUP)  # and a script's `nohup make run &`


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    dagster_home: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def _wait_until(condition: Callable[[], bool], started: Started, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not condition():
        assert started.process.poll() is None, f"run.sh exited ({started.process.returncode}):\n{started.output()}"
        assert time.monotonic() < deadline, f"{what} within {STARTUP_TIMEOUT_S} s:\n{started.output()}"
        time.sleep(0.5)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[tuple[signal.Signals, ...]], Started]]:
    """Starts the platform with the ``ignored`` signals ignored and waits until it is up;
    afterwards kills anything a failed test left behind."""

    def start_platform(ignored: tuple[signal.Signals, ...]) -> Started:
        ui_port, api_port, payscore_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FINMATCH_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(tmp_path / "dagster_home"),
            FINMATCH_DATA_DIR=str(tmp_path / "data"),
            FINMATCH_SECRETS_FILE=str(tmp_path / "secrets.env"),
            FINMATCH_UI_PORT=str(ui_port),
            FINMATCH_API_PORT=str(api_port),
            FINMATCH_PAYSCORE_PORT=str(payscore_port),
            FINMATCH_API_KEY=LIVE_API_KEY,
            FINMATCH_MASKING_KEY=TEST_MASKING_KEY,
            FINMATCH_INITIAL_LOAD="0",
            FINMATCH_AUTOMATION="0",
        )
        process = start_run_sh(env, tmp_path / "run.log", ignored=ignored)
        started = Started(process, tmp_path / "dagster_home", tmp_path / "run.log")
        client = WebserverClient(f"http://127.0.0.1:{ui_port}")
        _wait_until(client.is_up, started, "the webserver up")
        client.wait_until_loaded(timeout_s=STARTUP_TIMEOUT_S)
        for port in (api_port, payscore_port):
            _wait_until(lambda p=port: _answers(f"http://127.0.0.1:{p}/health"), started, f"/health on {port}")
        return started

    yield start_platform
    for pid in processes_with_env("DAGSTER_HOME", str(tmp_path / "dagster_home")):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _ignores(pid: int, signum: signal.Signals) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask, 16) & 1 << (signum - 1))


WAYS: dict[str, tuple[tuple[signal.Signals, ...], Callable[[int], None]]] = {
    # A terminal's Ctrl-C: SIGINT to the foreground process group (run.sh's session here).
    "ctrl_c_in_a_terminal": ((), lambda pid: os.killpg(pid, signal.SIGINT)),
    "sigint_to_the_launcher_in_the_background": (BACKGROUND, lambda pid: os.kill(pid, signal.SIGINT)),
    "sigterm_to_the_launcher_under_nohup": (NOHUP, lambda pid: os.kill(pid, signal.SIGTERM)),
    "sigkill_to_the_launcher": ((), lambda pid: os.kill(pid, signal.SIGKILL)),
}


@pytest.mark.parametrize("way", WAYS)
def test_make_run_stops_every_process_it_started_within_20_s(start: Callable[[bool], Started], way: str) -> None:
    ignored, stop = WAYS[way]
    started = start(ignored)
    launcher = started.process.pid
    tree = descendants(launcher)
    services = [service(tree, program) for program in PROGRAMS]  # each is there, once
    # None may inherit an ignored SIGINT (dagster dev maps SIGTERM to it, too). Only these: the
    # multiprocessing resource tracker ignores SIGINT by its own choice.
    assert not [command(p) for p in services if _ignores(p.pid, signal.SIGINT)], "started with SIGINT ignored"
    # nohup's SIGHUP stays ignored: the platform outlives the terminal, as asked.
    assert _ignores(launcher, signal.SIGHUP) == (signal.SIGHUP in ignored)

    stop(launcher)
    left = still_running(tree, STOP_WITHIN_S)
    assert not left, f"still running {STOP_WITHIN_S} s after {way}: {[(p.pid, p.name()) for p in left]}"
    code = started.process.wait(timeout=STOP_WITHIN_S)
    assert code == (-signal.SIGKILL if way == "sigkill_to_the_launcher" else 0), started.output()
    assert not processes_with_env("DAGSTER_HOME", str(started.dagster_home))
