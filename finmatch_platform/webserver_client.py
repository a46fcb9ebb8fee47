"""A client for the Dagster webserver's GraphQL API: what the UI itself calls.

``make run`` uses it to launch the initial load and follow it, and the live tests use it to drive
the running platform the way a user's clicks do. It wraps dagster-graphql's ``DagsterGraphQLClient``:
its ``submit_job_execution`` launches runs and ``get_run_status`` follows them; the queries it has
no method for (workspace, assets, backfills, sensors, run lists and logs) go through its gql
transport too (``_execute``). Every call returns plain data (dicts, dataclasses) and raises
``WebserverError`` with a message that says what failed, so the callers stay simple.

It imports dagster (dagster-graphql's client does), which is why it lives outside ``lib/``.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError, TransportServerError

AssetPath = tuple[str, ...]

# Backfill statuses (dagster's BulkActionStatus) after which nothing more will run.
BACKFILL_DONE = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"})
BACKFILL_SUCCESS = frozenset({"COMPLETED", "COMPLETED_SUCCESS"})
RUN_DONE = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
# Run tags that make one run cover a range of daily partitions (a single-run backfill's tags).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# How long ``is_up`` waits for an answer: a webserver still starting does not hold the caller.
PROBE_TIMEOUT_S = 2


class WebserverError(RuntimeError):
    """The webserver did not answer, answered with an error, or reported an operation as failed."""


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


def _graphql_client(url: str, timeout_s: int) -> DagsterGraphQLClient:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return DagsterGraphQLClient(
        f"[{host}]" if ":" in host else host,  # an IPv6 literal goes in brackets in the URL
        port_number=parts.port,
        use_https=parts.scheme == "https",
        timeout=timeout_s,
        path_prefix=parts.path.rstrip("/"),
    )


def _client_error(what: str, exc: DagsterGraphQLClientError) -> WebserverError:
    """A ``DagsterGraphQLClientError(typename, message)`` raised by one of the client's methods."""
    kind, *details = exc.args or ("error",)
    detail = details[0] if details else ""
    if isinstance(detail, list):  # RunConfigValidationInvalid: a list of config errors
        detail = "; ".join(e.get("message", str(e)) for e in detail)
    return WebserverError(f"{what} ({kind}): {detail}")


def _python_error(error: Mapping[str, Any]) -> str:
    """A PythonError's message and its causes': the definitions' own exception is the last cause."""
    messages = [error.get("message", ""), *(c.get("message", "") for c in error.get("causes") or [])]
    return " caused by ".join(m.strip() for m in messages if m.strip())


class WebserverClient:
    """One webserver (``http://host:port``), through dagster-graphql's client."""

    def __init__(self, url: str, timeout_s: int = 30) -> None:
        self.url = url.rstrip("/")
        self._client = _graphql_client(self.url, timeout_s)
        self._probe = _graphql_client(self.url, PROBE_TIMEOUT_S)

    # -- transport -------------------------------------------------------------------------

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run a query the client has no method for, through its own gql transport (``_execute``
        is its one entry point for a custom document), and say what went wrong if it failed."""
        try:
            return self._client._execute(document, dict(variables or {}))
        except DagsterGraphQLClientError as exc:
            raise self._transport_error(exc) from None

    def _transport_error(self, exc: DagsterGraphQLClientError) -> WebserverError:
        """``_execute`` wraps every failure alike; its cause tells them apart."""
        cause = exc.__cause__
        if isinstance(cause, TransportConnectionFailed | requests.RequestException):  # refused, reset, timed out
            return WebserverError(f"the webserver at {self.url} is not answering: {cause}")
        if isinstance(cause, TransportQueryError):
            return WebserverError("; ".join(e.get("message", str(e)) for e in cause.errors or []) or str(cause))
        if isinstance(cause, TransportServerError):
            return WebserverError(f"GraphQL HTTP {cause.code}: {str(cause)[:500]}")
        return WebserverError(f"the webserver at {self.url} failed: {cause or exc}")

    def is_up(self) -> bool:
        try:
            self._probe._execute(_VERSION)  # the cheapest query: is the GraphQL endpoint serving?
        except DagsterGraphQLClientError:
            return False
        return True

    def wait_until_loaded(self, timeout_s: float = 180.0, poll_s: float = 1.0) -> None:
        """Wait for the webserver and for every code location to load; raise on a load error."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.is_up():
                entries = self.query(_WORKSPACE)["workspaceOrError"].get("locationEntries", [])
                errors = [
                    f"{e['name']}: {_python_error(e['locationOrLoadError'])}"
                    for e in entries
                    if (e.get("locationOrLoadError") or {}).get("__typename") == "PythonError"
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
        self,
        job: str,
        *,
        location: str,
        repository: str = "__repository__",
        tags: Mapping[str, str] | None = None,
        run_config: Mapping[str, Any] | None = None,
    ) -> str:
        """Launch a run of ``job``, as the Launchpad does (a day range goes in the range tags)."""
        try:
            return self._client.submit_job_execution(
                job,
                repository_location_name=location,
                repository_name=repository,
                run_config=run_config,
                tags=dict(tags or {}),
            )
        except DagsterGraphQLClientError as exc:
            if exc.__cause__ is not None:  # the transport failed, not the launch
                raise self._transport_error(exc) from None
            raise _client_error(f"{job} run not launched", exc) from None

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

    def run_status(self, run_id: str) -> str:
        """The run's status (a ``RUN_DONE`` member once it ended)."""
        try:
            return self._client.get_run_status(run_id).value
        except DagsterGraphQLClientError as exc:
            if exc.__cause__ is not None:
                raise self._transport_error(exc) from None
            raise _client_error(f"run {run_id} not found", exc) from None

    def run_messages(self, run_id: str, limit: int = 5000) -> list[str]:
        """The run's event log messages, in order (what the UI's run page shows)."""
        data = self.query(_LOGS, {"id": run_id, "limit": limit})["logsForRun"]
        return [e.get("message") or "" for e in data.get("events", [])]


_VERSION = "query { version }"

_WORKSPACE = """
query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message causes { message } } } } } } }
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

_RUNS = """
query Runs($limit: Int) { runsOrError(limit: $limit) { __typename ... on Runs { results {
  runId jobName status tags { key value } } } } }
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
