"""``WebserverClient`` against a real ``dagster dev`` (webserver and daemon) on loopback, serving a
few toy definitions: launching runs and backfills, following them, sensors, and the errors that
tell the caller what to fix. The platform's own definitions are driven by ``test_live_platform``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from finmatch_platform.webserver_client import RUN_DONE, WebserverClient, WebserverError
from finmatch_platform_tests.helpers.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LOCATION = "toy_definitions.py"  # a code location loaded with -f is named after its file
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]

TOY_DEFINITIONS = f'''
import dagster as dg

days = dg.DailyPartitionsDefinition(start_date="{DAYS[0]}", end_date="2024-01-05")


class Greeting(dg.Config):
    name: str = "world"


@dg.asset(partitions_def=days, group_name="source")
def landed() -> None: ...


@dg.asset(group_name="source")
def catalog() -> None: ...


@dg.asset(group_name="output")
def greeting(context: dg.AssetExecutionContext, config: Greeting) -> None:
    context.log.info(f"hello {{config.name}}")


@dg.sensor(target=[greeting], default_status=dg.DefaultSensorStatus.STOPPED)
def toy_sensor():
    return dg.SkipReason("nothing to do")


defs = dg.Definitions(
    assets=[landed, catalog, greeting],
    jobs=[dg.define_asset_job("greet", selection=[greeting])],
    sensors=[toy_sensor],
)
'''


def _start(command: list[str], root: Path, definitions: str) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``command -f <definitions> -h 127.0.0.1 -p <free port>`` with a DAGSTER_HOME of its own,
    in a process group of its own (``dagster dev`` starts the webserver and daemon as children)."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    source = root / LOCATION
    source.write_text(definitions)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINMATCH_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(home)
    port = free_port()
    bin_dir = Path(sys.executable).parent
    with (root / "dagster.log").open("wb") as log:
        process = subprocess.Popen(
            [str(bin_dir / command[0]), *command[1:], "-f", str(source), "-h", "127.0.0.1", "-p", str(port)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGINT, 60), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebserverClient]:
    process, url = _start(["dagster", "dev"], tmp_path_factory.mktemp("toy-dagster"), TOY_DEFINITIONS)
    try:
        client = WebserverClient(url)
        client.wait_until_loaded(timeout_s=180)
        yield client
    finally:
        _stop(process)


def test_it_lists_the_assets_as_the_webserver_serves_them(client: WebserverClient) -> None:
    nodes = {n.label: n for n in client.asset_nodes()}
    assert set(nodes) == {"landed", "catalog", "greeting"}
    assert nodes["landed"].partitioned and not nodes["catalog"].partitioned
    assert nodes["greeting"].group == "output" and nodes["greeting"].materializable
    keys, done = client.partitions(("landed",))
    assert keys == DAYS and done == set()


def test_a_job_launched_with_run_config_and_tags_runs_and_its_status_is_followed(client: WebserverClient) -> None:
    run_id = client.launch_job(
        "greet",
        location=LOCATION,
        tags={"finmatch/test": "launch"},
        run_config={"ops": {"greeting": {"config": {"name": "finmatch"}}}},
    )
    _wait_for(lambda: client.run_status(run_id) in RUN_DONE, 120, "the greet run")
    assert client.run_status(run_id) == "SUCCESS"
    run = next(r for r in client.runs() if r.id == run_id)
    assert run.job == "greet" and run.tags["finmatch/test"] == "launch"
    assert any("hello finmatch" in m for m in client.run_messages(run_id))
    (state,) = client.asset_states([("greeting",)])
    assert state.materialized_at is not None and not state.in_progress


def test_an_asset_backfill_lands_a_partition_range_and_the_unpartitioned_assets(client: WebserverClient) -> None:
    backfill_id = client.launch_asset_backfill(
        [("landed",)], [("catalog",)], (DAYS[1], DAYS[2]), title="test: days 2-3", tags={"finmatch/test": "fill"}
    )
    _wait_for(lambda: client.backfill(backfill_id).done, 240, "the backfill")
    state = client.backfill(backfill_id)
    assert state.succeeded and state.runs == {"SUCCESS": 3}, state
    assert client.partitions(("landed",))[1] == {DAYS[1], DAYS[2]}
    (catalog,) = client.asset_states([("catalog",)])
    assert catalog.materialized_at is not None


def test_a_sensor_is_switched_on_and_off(client: WebserverClient) -> None:
    assert client.set_sensor("toy_sensor", running=True, location=LOCATION) == "RUNNING"
    assert client.set_sensor("toy_sensor", running=False, location=LOCATION) == "STOPPED"


def test_errors_name_what_to_fix(client: WebserverClient) -> None:
    with pytest.raises(WebserverError, match=r"no_such_job run not launched \(PipelineNotFoundError\)"):
        client.launch_job("no_such_job", location=LOCATION)
    with pytest.raises(WebserverError, match=r"greet run not launched \(RunConfigValidationInvalid\): .*nme"):
        client.launch_job("greet", location=LOCATION, run_config={"ops": {"greeting": {"config": {"nme": "x"}}}})
    with pytest.raises(WebserverError, match=r"run 0000 not found \(RunNotFoundError\)"):
        client.run_status("0000")
    with pytest.raises(WebserverError, match="sensor no_such_sensor not started"):
        client.set_sensor("no_such_sensor", running=True, location=LOCATION)
    with pytest.raises(WebserverError, match="Cannot query field"):
        client.query("query { noSuchField }")


def test_a_webserver_that_is_not_there_is_reported_as_not_answering() -> None:
    absent = WebserverClient(f"http://127.0.0.1:{free_port()}")
    assert not absent.is_up()
    with pytest.raises(WebserverError, match="is not answering"):
        absent.asset_nodes()
    with pytest.raises(WebserverError, match="was not ready within 1 s"):
        absent.wait_until_loaded(timeout_s=1, poll_s=0.2)


def test_a_code_location_that_fails_to_load_is_reported_with_its_error(tmp_path: Path) -> None:
    broken = "raise RuntimeError('FINMATCH_MASKING_KEY is not set')\n"
    process, url = _start(["dagster-webserver"], tmp_path, broken)
    try:
        with pytest.raises(
            WebserverError,
            match=r"(?s)code location failed to load: .*caused by RuntimeError: FINMATCH_MASKING_KEY is not set",
        ):
            WebserverClient(url).wait_until_loaded(timeout_s=120)
    finally:
        _stop(process)
