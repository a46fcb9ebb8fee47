"""A small client for the Dagster webserver's GraphQL API: what the UI itself calls.

``make run`` uses it to launch the initial backfill and follow it, and the live tests use it to
drive the running platform the way a user's clicks do. Standard library only; loopback only in
practice. Every call returns plain data (dicts, dataclasses) so the callers stay simple.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AssetPath = tuple[str, ...]

# Backfill statuses (dagster's BulkActionStatus) after which nothing more will run.
BACKFILL_DONE = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"})
BACKFILL_SUCCESS = frozenset({"COMPLETED", "COMPLETED_SUCCESS"})
RUN_DONE = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
# Run tags that make one run cover a range of daily partitions (a single-run backfill's tags).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


class WebserverError(RuntimeError):
    """The webserver answered with an error, or an operation it reported as failed."""


@dataclass(frozen=True)
class AssetNode:
    path: AssetPath
    group: str
    partitioned: bool
    materializable: bool

    @property
    def label(self) -> str:
        return "/".join(self.path)


@dataclass(frozen=True)
class AssetState:
    path: AssetPath
    materialized_at: float | None  # epoch seconds of the latest materialization
    in_progress: bool


@dataclass(frozen=True)
class BackfillState:
    id: str
    status: str
    runs: Mapping[str, int]  # run status -> count
    error: str | None

    @property
    def done(self) -> bool:
        return self.status in BACKFILL_DONE

    @property
    def succeeded(self) -> bool:
        return self.status in BACKFILL_SUCCESS and not self.runs.get("FAILURE") and not self.runs.get("CANCELED")


@dataclass(frozen=True)
class RunState:
    id: str
    job: str
    status: str
    tags: Mapping[str, str]


def _run_state(r: Mapping[str, Any]) -> RunState:
    return RunState(
        id=r["runId"],
        job=r["jobName"],
        status=r["status"],
        tags={t["key"]: t["value"] for t in r["tags"]},
    )


def _key_input(path: Sequence[str]) -> dict[str, list[str]]:
    return {"path": list(path)}


class WebserverClient:
    """GraphQL over HTTP to one webserver (``http://host:port``)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    # -- transport -------------------------------------------------------------------------

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise WebserverError(f"GraphQL HTTP {exc.code}: {exc.read()[:500]!r}") from None
        except OSError as exc:  # refused, reset, timed out (URLError is one)
            raise WebserverError(f"the webserver at {self.url} is not answering: {exc}") from None
        if payload.get("errors"):
            raise WebserverError("; ".join(e.get("message", str(e)) for e in payload["errors"]))
        return payload["data"]

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_until_loaded(self, timeout_s: float = 180.0, poll_s: float = 1.0) -> None:
        """Wait for the webserver and for every code location to load; raise on a load error."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.is_up():
                entries = self.query(_WORKSPACE)["workspaceOrError"].get("locationEntries", [])
                errors = [
                    f"{e['name']}: {e['locationOrLoadError'].get('message', '')}"
                    for e in entries
                    if e.get("locationOrLoadError", {}).get("__typename") == "PythonError"
                ]
                if errors:
                    raise WebserverError("code location failed to load: " + "; ".join(errors))
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            if time.monotonic() > deadline:
                raise WebserverError(f"the webserver at {self.url} was not ready within {timeout_s:.0f} s")
            time.sleep(poll_s)

    # -- assets ----------------------------------------------------------------------------

    def asset_nodes(self) -> list[AssetNode]:
        nodes = self.query(_ASSET_NODES)["assetNodes"]
        return [
            AssetNode(
                path=tuple(n["assetKey"]["path"]),
                group=n["groupName"],
                partitioned=bool(n["isPartitioned"]),
                materializable=bool(n["isMaterializable"]),
            )
            for n in nodes
        ]

    def asset_states(self, paths: Iterable[AssetPath]) -> list[AssetState]:
        keys = [_key_input(p) for p in paths]
        infos = self.query(_LATEST, {"keys": keys})["assetsLatestInfo"]
        states = []
        for info in infos:
            latest = info.get("latestMaterialization") or {}
            stamp = latest.get("timestamp")
            states.append(
                AssetState(
                    path=tuple(info["assetKey"]["path"]),
                    materialized_at=float(stamp) / 1000.0 if stamp else None,  # GraphQL gives ms
                    in_progress=bool(info["inProgressRunIds"] or info["unstartedRunIds"]),
                )
            )
        return states

    def partitions(self, path: AssetPath) -> tuple[list[str], set[str]]:
        """Every partition key of a time-partitioned asset, and those with a materialization."""
        node = self.query(_PARTITIONS, {"key": _key_input(path)})["assetNodeOrError"]
        keys = list(node.get("partitionKeys") or [])
        index = {k: i for i, k in enumerate(keys)}
        done: set[str] = set()
        for status_range in (node.get("assetPartitionStatuses") or {}).get("ranges", []):
            if status_range["status"] == "MATERIALIZED":
                done.update(keys[index[status_range["startKey"]] : index[status_range["endKey"]] + 1])
        return keys, done

    # -- backfills and runs ----------------------------------------------------------------

    def launch_asset_backfill(
        self,
        partitioned: Iterable[AssetPath],
        unpartitioned: Iterable[AssetPath],
        partition_range: tuple[str, str] | None,
        *,
        title: str,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """An asset backfill as the UI launches one: a partition range for the partitioned assets,
        the unpartitioned ones once. Dagster's backfill daemon runs it in dependency order."""
        by_asset: list[dict[str, Any]] = []
        if partition_range is not None:
            start, end = partition_range
            by_asset += [
                {"assetKey": _key_input(p), "partitions": {"range": {"start": start, "end": end}}} for p in partitioned
            ]
        by_asset += [{"assetKey": _key_input(p), "partitions": None} for p in unpartitioned]
        params = {
            "partitionsByAssets": by_asset,
            "title": title,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        }
        result = self.query(_LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise WebserverError(f"backfill not launched ({result['__typename']}): {result.get('message', '')}")
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> BackfillState:
        data = self.query(_BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if data["__typename"] != "PartitionBackfill":
            raise WebserverError(f"backfill {backfill_id}: {data.get('message', data['__typename'])}")
        runs: dict[str, int] = {}
        for run in data["runs"]:
            runs[run["status"]] = runs.get(run["status"], 0) + 1
        error = (data.get("error") or {}).get("message")
        return BackfillState(id=backfill_id, status=data["status"], runs=runs, error=error)

    def launch_job(
        self, job: str, *, location: str, repository: str = "__repository__", tags: Mapping[str, str] | None = None
    ) -> str:
        """Launch a run of ``job``, as the Launchpad does (a day range goes in the range tags)."""
        params: dict[str, Any] = {
            "selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": job},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        result = self.query(_LAUNCH_RUN, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise WebserverError(f"run not launched ({result['__typename']}): {result.get('message', '')}")
        return result["run"]["runId"]

    def set_sensor(self, name: str, *, running: bool, location: str, repository: str = "__repository__") -> str:
        """Start or stop a sensor (the UI's toggle); returns its new status."""
        selector = {"repositoryLocationName": location, "repositoryName": repository, "sensorName": name}
        if running:
            result = self.query(_START_SENSOR, {"selector": selector})["startSensor"]
            if result["__typename"] != "Sensor":
                raise WebserverError(f"sensor {name} not started: {result.get('message', result['__typename'])}")
            return result["sensorState"]["status"]
        sensor = self.query(_SENSOR, {"selector": selector})["sensorOrError"]
        if sensor["__typename"] != "Sensor":
            raise WebserverError(f"sensor {name}: {sensor.get('message', sensor['__typename'])}")
        state = sensor["sensorState"]
        result = self.query(_STOP_SENSOR, {"id": state["id"], "selectorId": state["selectorId"]})["stopSensor"]
        if result["__typename"] != "StopSensorMutationResult":
            raise WebserverError(f"sensor {name} not stopped: {result.get('message', result['__typename'])}")
        return result["instigationState"]["status"]

    def runs(self, limit: int = 200) -> list[RunState]:
        data = self.query(_RUNS, {"limit": limit})["runsOrError"]
        return [_run_state(r) for r in data["results"]]

    def run(self, run_id: str) -> RunState:
        data = self.query(_RUN, {"id": run_id})["runOrError"]
        if data["__typename"] != "Run":
            raise WebserverError(f"run {run_id}: {data.get('message', data['__typename'])}")
        return _run_state(data)

    def run_messages(self, run_id: str, limit: int = 5000) -> list[str]:
        """The run's event log messages, in order (what the UI's run page shows)."""
        data = self.query(_LOGS, {"id": run_id, "limit": limit})["logsForRun"]
        return [e.get("message") or "" for e in data.get("events", [])]


_WORKSPACE = """
query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""

_ASSET_NODES = """
query { assetNodes { assetKey { path } groupName isPartitioned isMaterializable } }
"""

_LATEST = """
query Latest($keys: [AssetKeyInput!]!) { assetsLatestInfo(assetKeys: $keys) {
  assetKey { path } latestMaterialization { timestamp } unstartedRunIds inProgressRunIds } }
"""

_PARTITIONS = """
query Partitions($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
  ... on AssetNode { partitionKeys assetPartitionStatuses { __typename
    ... on TimePartitionStatuses { ranges { status startKey endKey } } } } } }
"""

_LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on UnauthorizedError { message } } }
"""

_BACKFILL = """
query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status error { message } runs { status } }
  ... on PythonError { message } ... on BackfillNotFoundError { message } } }
"""

_LAUNCH_RUN = """
mutation Run($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } }
  ... on PipelineNotFoundError { message } } }
"""

_RUNS = """
query Runs($limit: Int) { runsOrError(limit: $limit) { __typename ... on Runs { results {
  runId jobName status tags { key value } } } } }
"""

_RUN = """
query Run($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId jobName status tags { key value } }
  ... on RunNotFoundError { message } ... on PythonError { message } } }
"""

_SENSOR = """
query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { id selectorId status } } ... on PythonError { message }
  ... on SensorNotFoundError { message } } }
"""

_START_SENSOR = """
mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } ... on SensorNotFoundError { message }
  ... on UnauthorizedError { message } } }
"""

_STOP_SENSOR = """
mutation Stop($id: String, $selectorId: String) { stopSensor(id: $id, jobSelectorId: $selectorId) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message }
  ... on UnauthorizedError { message } } }
"""

_LOGS = """
query Logs($id: ID!, $limit: Int) { logsForRun(runId: $id, limit: $limit) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }
"""
