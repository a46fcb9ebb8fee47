"""The FPR API against the real ``finmatch-api`` server on a free loopback port.

Read-only tests share one server over a three-day change log (``fpr_api``); tests that land new
days or configure faults start their own through ``start_api``. The snapshot store is also tested
in-process, where the timing of a refresh can be controlled exactly.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.utils
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone import schemas
from finmatch_platform.simulator.api import app, landed, server, storage
from finmatch_platform.simulator.api.faults import FaultConfig, decide
from finmatch_platform.simulator.api.storage import FprStore
from finmatch_platform.simulator.pagination import START, decode_cursor, derive_cursor_secret, encode_cursor
from finmatch_platform_tests.helpers.api import (
    FPR_START_DAY,
    FPR_TEST_API_KEY,
    VENDOR_ID_NAMESPACE,
    ChangeLogBuilder,
    LiveApi,
    build_change_log,
    expected_feed,
    fpr_row,
    generate_fpr_day,
    generate_fpr_days,
    to_api_json,
    vendor_view,
    write_fpr_day,
)

FINMATCH_API = str(Path(sys.executable).with_name("finmatch-api"))
RECORD_FIELDS = [field.name for field in schemas.FPR_RECORDS]


# --------------------------------------------------------------------------- clients


def get(
    api: LiveApi, path: str = "/fpr_data", headers: dict[str, str] | None = None, **params: Any
) -> requests.Response:
    return requests.get(
        f"{api.base_url}{path}",
        params=params,
        headers=api.headers if headers is None else headers,
        timeout=10,
    )


def sync(api: LiveApi, cursor: str | None = None, page_size: int = 100) -> tuple[list[dict[str, Any]], str, int]:
    """Page from ``cursor`` until has_more is false: (records, final next_cursor, pages)."""
    records: list[dict[str, Any]] = []
    pages = 0
    with requests.Session() as session:
        session.headers.update(api.headers)
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if cursor is not None:
                params["cursor"] = cursor
            response = session.get(f"{api.base_url}/fpr_data", params=params, timeout=10)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["fpr_records"]) <= page_size
            records += page["fpr_records"]
            cursor = page["next_cursor"]
            pages += 1
            if not page["has_more"]:
                return records, cursor, pages


class ConnectorStyleClient:
    """A client written the way the existing connectors for this feed are: the ``x-api-key``
    header, page while ``has_more``, checkpoint ``next_cursor`` after every page, start the next
    run from the checkpoint, upsert by record_id. With ``retries`` it retries 429 (honouring a
    short Retry-After), 5xx and dropped connections, as the extraction will."""

    def __init__(self, api: LiveApi, page_size: int = 100, retries: int = 0) -> None:
        self.api, self.page_size, self.retries = api, page_size, retries
        self.session = requests.Session()
        self.session.headers["x-api-key"] = api.api_key
        self.checkpoint: str | None = None
        self.table: dict[str, dict[str, Any]] = {}
        self.faults_seen: list[str] = []

    def _get_page(self) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": self.page_size}
        if self.checkpoint:
            params["cursor"] = self.checkpoint
        for _attempt in range(self.retries + 1):
            try:
                response = self.session.get(f"{self.api.base_url}/fpr_data", params=params, timeout=10)
            except requests.ConnectionError:
                self.faults_seen.append("drop")
                continue
            if response.status_code == 429:
                self.faults_seen.append("429")
                time.sleep(min(float(response.headers["Retry-After"]), 0.05))
                continue
            if response.status_code >= 500:
                self.faults_seen.append(str(response.status_code))
                continue
            response.raise_for_status()
            return response.json()
        raise AssertionError(f"gave up after {self.retries} retries: {self.faults_seen[-3:]}")

    def run(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            page = self._get_page()
            for record in page["fpr_records"]:
                self.table[record["record_id"]] = record
            received += page["fpr_records"]
            self.checkpoint = page["next_cursor"]
            if not page["has_more"]:
                return received


def latest_of(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest version per record among landed rows, as API JSON."""
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["updated_at"]):
        latest[row["record_id"]] = to_api_json(row)
    return latest


def source_state(landing_dir: Path) -> dict[str, dict[str, Any]]:
    return {record["record_id"]: record for record in expected_feed(landing_dir)}


# --------------------------------------------------------------------------- the feed


def test_the_full_feed_paged_at_100_equals_the_sources_latest_state(fpr_api: LiveApi, fpr_landing: Path) -> None:
    records, _cursor, pages = sync(fpr_api, page_size=100)

    expected = expected_feed(fpr_landing)
    assert records == expected
    assert pages == -(-len(expected) // 100)
    assert len({r["record_id"] for r in records}) == len(records), "each record once, at its latest version"
    assert any(r["_deleted"] for r in records), "the generated days include deletions"


@pytest.mark.parametrize("page_size", [1, 3, 7, 200])
def test_any_page_size_yields_the_same_feed_even_when_pages_split_ties(
    fpr_handbuilt_api: LiveApi, fpr_handbuilt_landing: Path, page_size: int
) -> None:
    # The builder gives records created together the same updated_at in fours; odd page sizes
    # cut through those ties, so only the record_id tiebreak keeps the keyset exact.
    records, _cursor, _pages = sync(fpr_handbuilt_api, page_size=page_size)
    assert records == expected_feed(fpr_handbuilt_landing)
    keys = [(r["updated_at"], r["record_id"]) for r in records]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len(keys) > len({r["updated_at"] for r in records}), "the data must contain ties to test them"


def test_the_default_page_size_is_100(fpr_api: LiveApi) -> None:
    assert len(get(fpr_api).json()["fpr_records"]) == 100


def test_records_render_dates_as_iso_timestamps_in_utc_with_microseconds_and_nulls_as_null(
    fpr_api: LiveApi,
) -> None:
    records, _cursor, _pages = sync(fpr_api, page_size=200)

    for record in records:
        assert list(record) == RECORD_FIELDS
        assert isinstance(record["_deleted"], bool)
        assert len(record["updated_at"]) == len("2026-10-01T00:00:00.000000Z")
        dt.datetime.strptime(record["updated_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    live = [r for r in records if not r["_deleted"]]
    assert all(dt.date.fromisoformat(r["product_recommendation_date"]) for r in live)
    assert any(r["product_sales_amount"] is None and r["product_sales_date"] is None for r in live)
    assert all(isinstance(r["customer_transaction_count"], int) for r in live)
    assert all(isinstance(r["recommendation_score"], float) for r in live)


def test_a_deleted_record_arrives_once_as_a_tombstone(fpr_handbuilt_api: LiveApi, fpr_handbuilt_landing: Path) -> None:
    records, _cursor, _pages = sync(fpr_handbuilt_api)

    tombstones = [r for r in records if r["_deleted"]]
    assert len(tombstones) == 12  # six deletions on each of days 2 and 3
    for tombstone in tombstones:
        assert [r["record_id"] for r in records].count(tombstone["record_id"]) == 1
        assert all(
            tombstone[name] is None for name in RECORD_FIELDS if name not in ("record_id", "updated_at", "_deleted")
        )


def test_a_record_changed_twice_in_a_day_is_served_only_at_its_later_version(
    fpr_handbuilt_api: LiveApi, fpr_handbuilt_landing: Path
) -> None:
    day2 = landing.read_partition(
        fpr_handbuilt_landing, "fpr_records", FPR_START_DAY + dt.timedelta(days=1)
    ).to_pylist()
    seen: dict[str, int] = {}
    for row in day2:
        seen[row["record_id"]] = seen.get(row["record_id"], 0) + 1
    twice = [record_id for record_id, n in seen.items() if n == 2]
    assert twice, "the fixture must change some record twice in a day"

    served = {r["record_id"]: r for r in sync(fpr_handbuilt_api)[0]}
    checked = 0
    for record_id in twice:
        later = max((r for r in day2 if r["record_id"] == record_id), key=lambda r: r["updated_at"])
        if served[record_id]["updated_at"].startswith("2026-10-02"):  # not changed again on day 3
            assert served[record_id] == to_api_json(later)
            checked += 1
    assert checked


def test_an_empty_page_keeps_the_cursor_where_it_was(fpr_api: LiveApi) -> None:
    _records, cursor, _pages = sync(fpr_api)

    page = get(fpr_api, cursor=cursor).json()
    assert page == {"fpr_records": [], "next_cursor": cursor, "has_more": False}


def test_an_empty_feed_still_returns_a_cursor_that_later_finds_the_first_day(start_api: Any, tmp_path: Path) -> None:
    api = start_api(tmp_path / "landing")  # nothing landed yet, not even the folder
    first = get(api).json()
    assert first["fpr_records"] == [] and first["has_more"] is False and first["next_cursor"]

    ChangeLogBuilder(tmp_path / "landing").day(FPR_START_DAY, created=5)
    records, _cursor, _pages = sync(api, cursor=first["next_cursor"])
    assert [r["record_id"] for r in records] == [f"FPR{i:010d}" for i in range(1, 6)]


def test_a_stored_cursor_returns_exactly_what_a_later_day_added_or_changed(start_api: Any, tmp_path: Path) -> None:
    root = tmp_path / "landing"
    generate_fpr_days(root, days=3)
    api = start_api(root)
    first_sync, cursor, _pages = sync(api)
    assert get(api, "/fpr_data/changes", cursor=cursor).json()["count"] == 0

    day4_rows = generate_fpr_day(root, 3)

    changes = get(api, "/fpr_data/changes", cursor=cursor).json()
    new_records, _next, _pages = sync(api, cursor=cursor, page_size=7)
    expected = latest_of(day4_rows)
    assert {r["record_id"]: r for r in new_records} == expected
    assert len(new_records) == len(expected) == changes["count"] > 0
    assert any(r["_deleted"] for r in new_records), "the day's tombstones arrive"
    synced_before = {r["record_id"] for r in first_sync}
    assert any(r["record_id"] in synced_before for r in new_records), "and its updates to earlier records"


def test_a_connector_style_client_syncs_everything_once_then_only_each_new_days_changes(
    start_api: Any, tmp_path: Path
) -> None:
    root = tmp_path / "landing"
    generate_fpr_days(root, days=2)
    api = start_api(root)
    client = ConnectorStyleClient(api)

    first_run = client.run()
    assert len(first_run) == len({r["record_id"] for r in first_run}) == len(source_state(root))
    assert client.table == source_state(root)

    for offset in (2, 3):
        rows = generate_fpr_day(root, offset)
        run = client.run()
        assert {r["record_id"]: r for r in run} == latest_of(rows)
        assert len(run) == len(latest_of(rows)), "nothing already synced comes back"
        assert client.table == source_state(root)

    assert client.run() == [], "a run with nothing new is empty"


def test_a_sync_running_while_days_land_converges_on_the_source_state(start_api: Any, tmp_path: Path) -> None:
    root = tmp_path / "landing"
    generate_fpr_days(root, days=1)
    api = start_api(root, refresh_seconds=0.05)  # the production path: periodic look, not per request
    client = ConnectorStyleClient(api, page_size=9)
    errors: list[BaseException] = []

    def land_days() -> None:
        try:
            for offset in range(1, 8):
                generate_fpr_day(root, offset)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    writer = threading.Thread(target=land_days)
    writer.start()
    while writer.is_alive():
        for record in client.run():
            # Every page comes from one snapshot: a record is never a half-written version.
            assert list(record) == RECORD_FIELDS
    writer.join()
    assert not errors

    deadline = time.monotonic() + 5
    while client.table != source_state(root) and time.monotonic() < deadline:
        time.sleep(0.1)
        client.run()
    assert client.table == source_state(root)


# --------------------------------------------------------------------------- sensors and health


def test_changes_counts_what_lies_past_a_cursor_without_paging(fpr_api: LiveApi, fpr_landing: Path) -> None:
    total = len(expected_feed(fpr_landing))
    from_start = get(fpr_api, "/fpr_data/changes").json()
    assert from_start["count"] == total

    first_page = get(fpr_api, page_size=40).json()
    after_one_page = get(fpr_api, "/fpr_data/changes", cursor=first_page["next_cursor"]).json()
    assert after_one_page["count"] == total - 40
    assert after_one_page["high_water_mark"] == from_start["high_water_mark"]

    _records, final_cursor, _pages = sync(fpr_api)
    assert from_start["cursor"] == final_cursor, "changes' cursor is where a full sync ends"
    at_end = get(fpr_api, "/fpr_data/changes", cursor=final_cursor).json()
    assert at_end["count"] == 0 and at_end["cursor"] == final_cursor


def test_the_high_water_mark_names_the_latest_change(fpr_api: LiveApi, fpr_landing: Path) -> None:
    last = expected_feed(fpr_landing)[-1]
    assert get(fpr_api, "/fpr_data/changes").json()["high_water_mark"] == f"{last['updated_at']}/{last['record_id']}"


def test_health_answers_without_a_key(fpr_api: LiveApi, fpr_landing: Path) -> None:
    response = get(fpr_api, "/health", headers={})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["records"] == len(expected_feed(fpr_landing))


# --------------------------------------------------------------------------- auth and bad input


def test_the_legacy_api_key_header_is_accepted_too(fpr_api: LiveApi) -> None:
    assert get(fpr_api, headers={"api_key": FPR_TEST_API_KEY}).status_code == 200


def _tampered(cursor: str) -> str:
    body, mac = cursor.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    version, micros, record_id = payload.split(":", 2)
    forged = f"{version}:{int(micros) - 1}:{record_id}".encode()
    return base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + mac


@pytest.mark.parametrize(
    ("path", "headers", "params", "status", "error", "detail"),
    [
        ("/fpr_data", {}, {}, 401, "unauthorized", "missing API key: send it in the x-api-key header"),
        ("/fpr_data", {"x-api-key": "wrong"}, {}, 401, "unauthorized", "invalid API key"),
        ("/fpr_data", {"api_key": "wrong"}, {}, 401, "unauthorized", "invalid API key"),
        ("/fpr_data", {"x-api-key": ""}, {}, 401, "unauthorized", "missing API key"),
        ("/fpr_data/changes", {}, {}, 401, "unauthorized", "missing API key"),
        # Auth comes first: an anonymous caller learns nothing about the parameters.
        ("/fpr_data", {}, {"page_size": 0}, 401, "unauthorized", "missing API key"),
        (
            None,
            None,
            {"page_size": 0},
            400,
            "invalid_parameter",
            "page_size must be an integer between 1 and 200",
        ),
        (
            None,
            None,
            {"page_size": 201},
            400,
            "invalid_parameter",
            "page_size must be an integer between 1 and 200",
        ),
        (
            None,
            None,
            {"page_size": -5},
            400,
            "invalid_parameter",
            "page_size must be an integer between 1 and 200",
        ),
        (
            None,
            None,
            {"page_size": "ten"},
            400,
            "invalid_parameter",
            "page_size must be an integer between 1 and 200",
        ),
        (
            None,
            None,
            {"page_size": "1.5"},
            400,
            "invalid_parameter",
            "page_size must be an integer between 1 and 200",
        ),
        (
            None,
            None,
            {"page_size": "9" * 40},
            400,
            "invalid_parameter",
            "page_size must be an integer between 1 and 200",
        ),
        (None, None, {"cursor": "not-a-cursor"}, 400, "invalid_cursor", "cursor is malformed"),
        (None, None, {"cursor": "abc.def"}, 400, "invalid_cursor", "cursor is malformed"),
        (None, None, {"cursor": "é" * 40 + ".x"}, 400, "invalid_cursor", "cursor is malformed"),
        (
            None,
            None,
            {"cursor": "A" * 600},
            400,
            "invalid_parameter",
            "cursor must be at most 512 characters",
        ),
        ("/fpr_data/changes", None, {"cursor": "abc"}, 400, "invalid_cursor", "cursor is malformed"),
    ],
)
def test_bad_input_gets_its_status_and_a_json_error_saying_what_is_wrong(
    fpr_api: LiveApi,
    path: str | None,
    headers: dict[str, str] | None,
    params: dict[str, Any],
    status: int,
    error: str,
    detail: str,
) -> None:
    response = get(fpr_api, path or "/fpr_data", headers=headers, **params)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert body["detail"].startswith(detail)
    if "page_size" in params and status == 400:
        assert body["parameter"] == "page_size"
    if "cursor" in params and status == 400:
        assert body["parameter"] == "cursor"


def test_a_tampered_cursor_is_rejected_as_altered(fpr_api: LiveApi) -> None:
    cursor = get(fpr_api, page_size=5).json()["next_cursor"]
    assert get(fpr_api, cursor=cursor).status_code == 200

    response = get(fpr_api, cursor=_tampered(cursor))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_cursor"
    assert "signature does not match" in response.json()["detail"]


def test_a_cursor_signed_with_another_secret_is_rejected(start_api: Any, fpr_api: LiveApi, fpr_landing: Path) -> None:
    cursor = get(fpr_api, page_size=5).json()["next_cursor"]
    other = start_api(fpr_landing, env={"FINMATCH_CURSOR_SECRET": "a-dedicated-signing-secret"})

    assert get(other, cursor=cursor).status_code == 400
    own = get(other, page_size=5).json()["next_cursor"]
    assert get(other, cursor=own).status_code == 200
    assert own != cursor


def test_unknown_paths_and_methods_answer_json(fpr_api: LiveApi) -> None:
    missing = requests.get(f"{fpr_api.base_url}/nope", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong_method = requests.post(f"{fpr_api.base_url}/fpr_data", headers=fpr_api.headers, timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "GET"


def test_the_api_key_is_never_logged_nor_echoed(fpr_api: LiveApi) -> None:
    secret_looking = "wrong-" + FPR_TEST_API_KEY[::-1]
    bodies = [
        get(fpr_api).text,
        get(fpr_api, headers={"x-api-key": secret_looking}).text,
        get(fpr_api, page_size=0).text,
        get(fpr_api, cursor="junk").text,
    ]
    for body in bodies:
        assert FPR_TEST_API_KEY not in body and secret_looking not in body
    log = fpr_api.log_text()
    assert FPR_TEST_API_KEY not in log and secret_looking not in log


def test_the_server_refuses_to_start_without_an_api_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FINMATCH_API_KEY"}
    env["FINMATCH_LANDING_DIR"] = str(tmp_path)
    result = subprocess.run([FINMATCH_API, "--port", "1"], env=env, capture_output=True, text=True, timeout=30)

    assert result.returncode != 0
    assert "FINMATCH_API_KEY is not set" in result.stderr


def _start_with(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """``finmatch-api`` started with a valid key and these variables (expected to stop at once)."""
    env = {**os.environ, "FINMATCH_API_KEY": FPR_TEST_API_KEY, "FINMATCH_LANDING_DIR": str(tmp_path), **variables}
    return subprocess.run([FINMATCH_API, "--port", "1"], env=env, capture_output=True, text=True, timeout=30)


def test_a_short_cursor_secret_stops_the_server_naming_the_variable_not_the_value(tmp_path: Path) -> None:
    result = _start_with(tmp_path, FINMATCH_CURSOR_SECRET="short-secret")

    assert result.returncode != 0
    assert "FINMATCH_CURSOR_SECRET is too short" in result.stderr
    assert "short-secret" not in result.stderr + result.stdout


def test_an_out_of_range_fault_setting_stops_the_server_naming_the_variable(tmp_path: Path) -> None:
    result = _start_with(tmp_path, FINMATCH_FAULT_ERROR_RATE="1.5")

    assert result.returncode != 0
    assert "FINMATCH_FAULT_ERROR_RATE / --fault-error-rate must be a share between 0 and 1" in result.stderr


def test_help_documents_every_fault_knob_and_the_profile_by_flag_and_variable() -> None:
    result = subprocess.run([FINMATCH_API, "--help"], capture_output=True, text=True, timeout=30)
    help_text = " ".join(result.stdout.split())

    assert result.returncode == 0
    for knob in dataclasses.fields(FaultConfig):
        assert f"--fault-{knob.name.replace('_', '-')}" in help_text
        assert f"FINMATCH_FAULT_{knob.name.upper()}" in help_text
    for variable in ("FINMATCH_API_KEY", "FINMATCH_LANDING_DIR", "FINMATCH_CURSOR_SECRET", "FINMATCH_API_PROFILE"):
        assert variable in help_text
    assert "--profile" in help_text and "stops on an empty page" in help_text
    assert server.PROFILES == app.PROFILES, "the CLI spells the profiles the app knows"


# --------------------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_describes_parameters_errors_and_auth(fpr_api: LiveApi) -> None:
    doc = requests.get(f"{fpr_api.base_url}/openapi.json", timeout=5).json()

    operation = doc["paths"]["/fpr_data"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["page_size"]["schema"]["minimum"] == 1 and params["page_size"]["schema"]["maximum"] == 200
    assert params["page_size"]["schema"]["default"] == 100
    assert "cursor" in params
    for status in ("200", "400", "401", "429", "503"):
        assert status in operation["responses"]
    assert "422" not in operation["responses"], "validation errors are 400 here, not FastAPI's 422"
    assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert {s["name"] for s in doc["components"]["securitySchemes"].values()} == {"x-api-key", "api_key"}
    record = doc["components"]["schemas"]["FprRecord"]
    assert set(RECORD_FIELDS) <= set(record["properties"])
    assert "/fpr_data/changes" in doc["paths"] and "/health" in doc["paths"]


def test_fuzzing_the_openapi_document_never_gets_a_5xx_or_an_off_schema_answer(fpr_api: LiveApi) -> None:
    schema = schemathesis.openapi.from_url(f"{fpr_api.base_url}/openapi.json")
    real_cursors = [
        encode_cursor(START, derive_cursor_secret(FPR_TEST_API_KEY)),
        get(fpr_api, page_size=50).json()["next_cursor"],
        sync(fpr_api)[1],
    ]
    data_operations = [schema["/fpr_data"]["GET"], schema["/fpr_data/changes"]["GET"]]
    # Valid-looking but unsigned cursors are schema-valid strings the API must refuse (400), so
    # "schema-valid input is accepted" is checked with real cursors and skipped for made-up ones.
    with_real_cursors = st.one_of(
        [op.as_strategy(query={"cursor": cursor}) for op in data_operations for cursor in real_cursors]
    )
    anything = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    session = requests.Session()

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=with_real_cursors)
    def valid_requests_are_accepted(case: schemathesis.Case) -> None:
        response = case.call_and_validate(session=session, headers=fpr_api.headers)
        assert response.status_code == 200

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=anything)
    def nothing_breaks_the_server(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            session=session, headers=fpr_api.headers, excluded_checks=[positive_data_acceptance]
        )
        assert response.status_code < 500

    valid_requests_are_accepted()
    nothing_breaks_the_server()


# --------------------------------------------------------------------------- fault injection


def test_faults_follow_the_seeded_sequence_and_spare_health(start_api: Any, fpr_landing: Path) -> None:
    config = FaultConfig(
        seed=11, drop_rate=0.2, rate_limit=0.2, error_rate=0.2, retry_after=2, error_statuses=(502, 503)
    )
    api = start_api(fpr_landing, **dataclasses.asdict(config))
    session = requests.Session()
    session.headers.update(api.headers)

    outcomes: list[str | int] = []
    for n in range(30):
        assert session.get(f"{api.base_url}/health", timeout=5).status_code == 200  # never faulted, never counted
        predicted = decide(config, n)
        try:
            response = session.get(f"{api.base_url}/fpr_data", params={"page_size": 2}, timeout=5)
        except requests.ConnectionError as exc:
            assert predicted.kind == "drop", f"request {n}: unexpected drop"
            assert "RemoteDisconnected" in repr(exc) or "reset" in repr(exc).lower()
            outcomes.append("drop")
            continue
        outcomes.append(response.status_code)
        if predicted.kind == "rate_limit":
            assert response.status_code == 429 and response.headers["Retry-After"] == "2"
            assert response.json()["error"] == "rate_limited"
        elif predicted.kind == "error":
            assert response.status_code == predicted.status
            assert response.json()["error"] == "upstream_unavailable"
        else:
            assert response.status_code == 200, f"request {n}"
    assert {"drop", 429, 200} <= set(outcomes) and set(outcomes) & {502, 503}


def test_flags_switch_on_an_http_date_rate_limit_with_latency_and_override_the_environment(
    start_api: Any, fpr_landing: Path
) -> None:
    flags = (
        "--fault-rate-limit",
        "1",
        "--fault-retry-after",
        "3",
        "--fault-retry-after-format",
        "http-date",
        "--fault-latency-ms",
        "150",
    )
    api = start_api(fpr_landing, rate_limit=0.0, args=flags)

    started = time.monotonic()
    response = get(api)
    elapsed = time.monotonic() - started

    assert response.status_code == 429
    retry_at = email.utils.parsedate_to_datetime(response.headers["Retry-After"])
    wait = (retry_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 1.5 <= wait <= 4.5
    assert elapsed >= 0.15
    assert get(api, "/fpr_data/changes").status_code == 429
    assert get(api, "/health").status_code == 200


def test_a_requests_per_second_limit_answers_429_when_exceeded(start_api: Any, fpr_landing: Path) -> None:
    api = start_api(fpr_landing, rate_limit_rps=2)
    session = requests.Session()
    session.headers.update(api.headers)

    statuses = [session.get(f"{api.base_url}/fpr_data/changes", timeout=5).status_code for _ in range(15)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    limited = next(
        r
        for r in (session.get(f"{api.base_url}/fpr_data/changes", timeout=5) for _ in range(5))
        if r.status_code == 429
    )
    assert int(limited.headers["Retry-After"]) >= 1
    time.sleep(1.0)
    assert session.get(f"{api.base_url}/fpr_data/changes", timeout=5).status_code == 200


def test_a_retrying_client_gets_the_whole_feed_through_drops_rate_limits_and_errors(
    start_api: Any, fpr_landing: Path
) -> None:
    api = start_api(fpr_landing, seed=3, drop_rate=0.15, rate_limit=0.15, error_rate=0.15, retry_after=0)
    client = ConnectorStyleClient(api, page_size=10, retries=20)

    client.run()

    assert client.table == source_state(fpr_landing)
    assert {"drop", "429"} <= set(client.faults_seen) and any(f.startswith("5") for f in client.faults_seen)


# --------------------------------------------------------------------------- the vendor's documented contract

# The "Data Schema" table of the vendor's connector documentation (sources/000_*: "FPR API
# Details"), in its order: (field, documented type).
DOCUMENTED_FIELDS: list[tuple[str, str]] = [
    ("record_id", "string"),
    ("customer_id", "string"),
    ("customer_name", "string"),
    ("customer_email", "string"),
    ("customer_segment", "string"),
    ("customer_lifecycle_stage", "string"),
    ("customer_lifecycle_stage_transition_date", "date"),
    ("account_balance", "float"),
    ("transaction_history", "string"),
    ("customer_transaction_value", "float"),
    ("customer_transaction_count", "integer"),
    ("product_id", "string"),
    ("product_name", "string"),
    ("product_type", "string"),
    ("product_terms", "string"),
    ("product_sales_amount", "float"),
    ("product_sales_date", "date"),
    ("product_recommendation", "string"),
    ("product_recommendation_date", "date"),
    ("product_recommendation_status", "string"),
    ("recommendation_score", "float"),
    ("customer_product_usage", "string"),
    ("customer_product_affinity", "float"),
    ("customer_product_affinity_trend", "string"),
    ("customer_product_usage_trend", "string"),
    ("customer_product_interests", "string"),
    ("customer_satisfaction_score", "float"),
    ("customer_churn_probability", "float"),
]
_DOCUMENTED_TYPES = {
    "string": lambda t: pa.types.is_string(t),
    "float": lambda t: pa.types.is_floating(t),
    "integer": lambda t: pa.types.is_integer(t),
    "date": lambda t: pa.types.is_date(t),
}
_JSON_TYPES = {"string": str, "float": float, "integer": int, "date": str}
VENDOR_CUSTOMER_ID = re.compile(r"CUST_\d{6}")


def vendor_sync(api: LiveApi, cursor: str | None = None, page_size: int = 100) -> tuple[list[dict[str, Any]], str, int]:
    """Page as the vendor's document says: ``api_key`` header, stop on the first empty page
    (there is no has_more): (records, final next_cursor, pages including the empty one)."""
    records: list[dict[str, Any]] = []
    pages = 0
    with requests.Session() as session:
        session.headers["api_key"] = api.api_key
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if cursor is not None:
                params["cursor"] = cursor
            response = session.get(f"{api.base_url}/fpr_data", params=params, timeout=10)
            assert response.status_code == 200, response.text
            page = response.json()
            assert set(page) == {"fpr_records", "next_cursor"}, "exactly the documented keys, no has_more"
            pages += 1
            if not page["fpr_records"]:
                assert cursor is None or page["next_cursor"] == cursor, "an empty page keeps the cursor"
                return records, page["next_cursor"], pages
            assert len(page["fpr_records"]) <= page_size
            records += page["fpr_records"]
            cursor = page["next_cursor"]


def test_the_landing_contract_has_exactly_the_28_documented_fields_and_types() -> None:
    assert len(DOCUMENTED_FIELDS) == 28
    assert schemas.FPR_RECORDS.names == [name for name, _ in DOCUMENTED_FIELDS] + ["updated_at", "_deleted"]
    for name, documented in DOCUMENTED_FIELDS:
        assert _DOCUMENTED_TYPES[documented](schemas.FPR_RECORDS.field(name).type), name


@pytest.mark.parametrize("profile", ["simulator", "vendor"])
def test_both_profiles_serve_the_28_documented_fields_with_their_json_types(
    profile: str, fpr_api: LiveApi, fpr_vendor_api: LiveApi
) -> None:
    records = vendor_sync(fpr_vendor_api, page_size=200)[0] if profile == "vendor" else sync(fpr_api, page_size=200)[0]

    documented = [name for name, _ in DOCUMENTED_FIELDS]
    live = [r for r in records if not r["_deleted"]]
    assert live
    for record in records:
        assert list(record) == documented + ["updated_at", "_deleted"]
    for name, documented_type in DOCUMENTED_FIELDS:
        values = [r[name] for r in live if r[name] is not None]
        assert values and all(isinstance(v, _JSON_TYPES[documented_type]) for v in values), name
    usage = [float(r["customer_product_usage"]) for r in live]  # decimal text, e.g. "0.4231"
    assert all(0 <= u <= 1 for u in usage)
    assert all(re.fullmatch(r"[01]\.\d{4}", r["customer_product_usage"]) for r in live)


def test_the_vendor_profile_serves_uuid_record_ids_and_cust_customer_ids(
    fpr_vendor_api: LiveApi, fpr_landing: Path
) -> None:
    records, _cursor, _pages = vendor_sync(fpr_vendor_api, page_size=200)

    # The same feed, order and values as the simulator's, with the ids in the vendor's shapes.
    assert records == [vendor_view(r) for r in expected_feed(fpr_landing)]
    for record in records:
        assert uuid.UUID(record["record_id"]).version == 5
        assert str(uuid.UUID(record["record_id"])) == record["record_id"]
    live = [r for r in records if not r["_deleted"]]
    assert all(VENDOR_CUSTOMER_ID.fullmatch(r["customer_id"]) for r in live)
    assert all(r["customer_id"] is None for r in records if r["_deleted"])


def test_vendor_ids_are_stable_across_requests_and_restarts(
    start_api: Any, fpr_vendor_api: LiveApi, fpr_landing: Path
) -> None:
    first = [r["record_id"] for r in get(fpr_vendor_api, page_size=50).json()["fpr_records"]]
    again = [r["record_id"] for r in get(fpr_vendor_api, page_size=50).json()["fpr_records"]]
    restarted = start_api(fpr_landing, profile="vendor")

    assert first == again == [r["record_id"] for r in get(restarted, page_size=50).json()["fpr_records"]]
    assert storage.vendor_record_id("FPR0000000001") == str(uuid.uuid5(VENDOR_ID_NAMESPACE, "FPR0000000001"))


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({"api_key": FPR_TEST_API_KEY}, 200, None),
        (
            {"x-api-key": FPR_TEST_API_KEY},
            401,
            "missing API key: send it in the api_key header; this API does not read x-api-key",
        ),
        ({}, 401, "missing API key: send it in the api_key header"),
        ({"api_key": ""}, 401, "missing API key: send it in the api_key header"),
        ({"api_key": "wrong"}, 401, "invalid API key"),
        ({"api_key": "wrong", "x-api-key": FPR_TEST_API_KEY}, 401, "invalid API key"),
    ],
)
def test_the_vendor_profile_accepts_only_the_documented_api_key_header(
    fpr_vendor_api: LiveApi, headers: dict[str, str], status: int, detail: str | None
) -> None:
    response = get(fpr_vendor_api, headers=headers)

    assert response.status_code == status
    if detail is not None:
        assert response.json() == {"error": "unauthorized", "detail": detail, "parameter": None}
    if status != 200:
        assert FPR_TEST_API_KEY not in response.text


def test_the_vendor_profile_has_no_changes_endpoint(fpr_vendor_api: LiveApi) -> None:
    response = get(fpr_vendor_api, "/fpr_data/changes")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_vendor_pages_carry_no_has_more_and_the_feed_ends_with_an_empty_page(
    fpr_vendor_api: LiveApi, fpr_landing: Path
) -> None:
    total = len(expected_feed(fpr_landing))

    records, cursor, pages = vendor_sync(fpr_vendor_api, page_size=100)

    assert len(records) == total
    assert pages == -(-total // 100) + 1, "every full page, then one empty page"
    assert get(fpr_vendor_api, cursor=cursor).json() == {"fpr_records": [], "next_cursor": cursor}


def test_a_stored_vendor_cursor_yields_exactly_the_changes_since(start_api: Any, tmp_path: Path) -> None:
    root = tmp_path / "landing"
    builder = ChangeLogBuilder(root)
    builder.day(FPR_START_DAY, created=240)
    api = start_api(root, profile="vendor")
    first_sync, cursor, _pages = vendor_sync(api, page_size=7)
    assert vendor_sync(api, cursor=cursor) == ([], cursor, 1), "nothing new: one empty page"

    day2_rows = builder.day(FPR_START_DAY + dt.timedelta(days=1), created=60, updated=45, deleted=6)

    new_records, _next, _pages = vendor_sync(api, cursor=cursor, page_size=9)
    expected = {vendor_view(r)["record_id"]: vendor_view(r) for r in latest_of(day2_rows).values()}
    assert {r["record_id"]: r for r in new_records} == expected
    assert len(new_records) == len(expected)
    assert sum(r["_deleted"] for r in new_records) == 6, "the day's tombstones arrive once"
    synced_before = {r["record_id"] for r in first_sync}
    assert sum(r["record_id"] in synced_before and not r["_deleted"] for r in new_records) > 0, "and its updates"


def test_the_vendor_openapi_document_describes_only_the_documented_contract(fpr_vendor_api: LiveApi) -> None:
    doc = requests.get(f"{fpr_vendor_api.base_url}/openapi.json", timeout=5).json()

    assert "/fpr_data/changes" not in doc["paths"] and "/fpr_data" in doc["paths"]
    assert [s["name"] for s in doc["components"]["securitySchemes"].values()] == ["api_key"]
    assert set(doc["components"]["schemas"]["FprPage"]["properties"]) == {"fpr_records", "next_cursor"}
    record = doc["components"]["schemas"]["FprRecord"]
    assert {name for name, _ in DOCUMENTED_FIELDS} <= set(record["properties"])
    assert "UUID" in record["properties"]["record_id"]["description"]


def test_fuzzing_the_vendor_openapi_document_never_gets_a_5xx_or_an_off_schema_answer(
    fpr_vendor_api: LiveApi,
) -> None:
    schema = schemathesis.openapi.from_url(f"{fpr_vendor_api.base_url}/openapi.json")
    # The key is sent by the caller on every request: a case that drops or garbles the api_key header
    # would be sent with it anyway, so it is not generated.
    schema.config.generation.update(with_security_parameters=False)
    real_cursors = [get(fpr_vendor_api, page_size=50).json()["next_cursor"], vendor_sync(fpr_vendor_api)[1]]
    operation = schema["/fpr_data"]["GET"]
    session = requests.Session()
    common = {"deadline": None, "database": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}

    @settings(max_examples=40, **common)
    @given(case=st.one_of([operation.as_strategy(query={"cursor": cursor}) for cursor in real_cursors]))
    def valid_requests_are_accepted(case: schemathesis.Case) -> None:
        assert case.call_and_validate(session=session, headers=fpr_vendor_api.headers).status_code == 200

    @settings(max_examples=150, **common)
    @given(case=st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)))
    def nothing_breaks_the_server(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            session=session, headers=fpr_vendor_api.headers, excluded_checks=[positive_data_acceptance]
        )
        assert response.status_code < 500

    valid_requests_are_accepted()
    nothing_breaks_the_server()


def test_the_profile_flag_overrides_the_variable_and_a_bad_profile_stops_the_server(
    start_api: Any, tmp_path: Path
) -> None:
    ChangeLogBuilder(tmp_path / "landing").day(FPR_START_DAY, created=3)
    flagged = start_api(tmp_path / "landing", profile="simulator", args=("--profile", "vendor"))
    flagged.profile = "vendor"  # the fixture only knows the variable it set
    page = get(flagged).json()
    assert set(page) == {"fpr_records", "next_cursor"} and uuid.UUID(page["fpr_records"][0]["record_id"])

    env = {
        **os.environ,
        "FINMATCH_API_KEY": FPR_TEST_API_KEY,
        "FINMATCH_LANDING_DIR": str(tmp_path),
        "FINMATCH_API_PROFILE": "strict",
    }
    result = subprocess.run([FINMATCH_API, "--port", "1"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--profile / FINMATCH_API_PROFILE must be one of simulator, vendor" in result.stderr


def test_serialising_with_vendor_ids_keeps_the_landed_ids_in_the_keys(tmp_path: Path) -> None:
    rows = [fpr_row("FPR0000000002", _ts(_day(0), 9)), fpr_row("FPR0000000001", _ts(_day(0), 9), deleted=True)]
    table = pa.Table.from_pylist(rows, schema=schemas.FPR_RECORDS)

    keys, payloads = storage.serialise_table(table, vendor_ids=True)
    plain_keys, plain_payloads = storage.serialise_table(table)

    assert keys == plain_keys and [k.record_id for k in keys] == ["FPR0000000002", "FPR0000000001"]
    served = [orjson.loads(p) for p in payloads]
    assert served == [vendor_view(orjson.loads(p)) for p in plain_payloads]
    assert served[0]["customer_id"] == f"CUST_{int(rows[0]['customer_id'][1:]):06d}"
    assert served[1]["customer_id"] is None and served[1]["_deleted"] is True


# --------------------------------------------------------------------------- the snapshot store, in-process


def _day(n: int) -> dt.date:
    return FPR_START_DAY + dt.timedelta(days=n)


def _ts(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def test_a_snapshot_in_hand_is_unchanged_when_a_new_day_is_loaded(tmp_path: Path) -> None:
    write_fpr_day(tmp_path, _day(0), [fpr_row("FPR0000000001", _ts(_day(0), 9))])
    store = FprStore(tmp_path, refresh_interval=0)
    store.refresh()
    in_flight = store.current
    keys, payloads = list(in_flight.keys), list(in_flight.payloads)

    write_fpr_day(tmp_path, _day(1), [fpr_row("FPR0000000001", _ts(_day(1), 9), version=1)])
    assert store.refresh()

    assert list(in_flight.keys) == keys and list(in_flight.payloads) == payloads
    assert store.current is not in_flight and store.current.keys[0].updated_at_us > keys[0].updated_at_us


def test_a_refresh_reads_only_the_days_it_has_not_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builder = build_change_log(tmp_path, days=2)
    store = FprStore(tmp_path, refresh_interval=0)
    store.refresh()
    read: list[Path] = []
    real_read = landed.pq.read_table

    def counting_read(path: Path, *args: Any, **kwargs: Any) -> pa.Table:
        read.append(Path(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(landed.pq, "read_table", counting_read)

    assert store.refresh() is False and read == []
    builder.day(_day(2), created=5, updated=5, deleted=1)
    assert store.refresh() is True
    assert read == [landing.partition_file(tmp_path, "fpr_records", _day(2))]
    assert [k.record_id for k in store.current.keys] == [r["record_id"] for r in expected_feed(tmp_path)]


def test_a_replaced_day_file_rebuilds_the_feed_from_scratch(tmp_path: Path) -> None:
    write_fpr_day(tmp_path, _day(0), [fpr_row("FPR0000000001", _ts(_day(0), 9))])
    write_fpr_day(tmp_path, _day(1), [fpr_row("FPR0000000002", _ts(_day(1), 9))])
    store = FprStore(tmp_path, refresh_interval=0)
    store.refresh()

    write_fpr_day(tmp_path, _day(1), [fpr_row("FPR0000000003", _ts(_day(1), 10))])
    store.refresh()

    assert [k.record_id for k in store.current.keys] == ["FPR0000000001", "FPR0000000003"]


def test_an_older_version_landing_late_does_not_replace_the_newer_one(tmp_path: Path) -> None:
    write_fpr_day(tmp_path, _day(5), [fpr_row("FPR0000000001", _ts(_day(5), 9), version=2)])
    store = FprStore(tmp_path, refresh_interval=0)
    store.refresh()
    write_fpr_day(
        tmp_path,
        _day(1),
        [fpr_row("FPR0000000001", _ts(_day(1), 9), version=1), fpr_row("FPR0000000002", _ts(_day(1), 8))],
    )
    store.refresh()

    assert [(k.record_id, k.updated_at_us) for k in store.current.keys] == [
        ("FPR0000000002", int(_ts(_day(1), 8).timestamp() * 1e6)),
        ("FPR0000000001", int(_ts(_day(5), 9).timestamp() * 1e6)),
    ]


def test_files_still_being_written_are_invisible(tmp_path: Path) -> None:
    folder = landing.partition_dir(tmp_path, "fpr_records", _day(0))
    folder.mkdir(parents=True)
    (folder / ".part-0.parquet.123.tmp").write_bytes(b"PAR1 half a file")
    store = FprStore(tmp_path, refresh_interval=0)

    store.refresh()
    assert len(store.current) == 0

    write_fpr_day(tmp_path, _day(0), [fpr_row("FPR0000000001", _ts(_day(0), 9))])
    store.refresh()
    assert len(store.current) == 1


def test_a_file_without_deleted_column_or_with_a_new_field_is_served_with_both(tmp_path: Path) -> None:
    row = fpr_row("FPR0000000001", _ts(_day(0), 9))
    row.pop("_deleted")
    row["next_best_action"] = "call"
    landing.write_partition(tmp_path, "fpr_records", _day(0), pa.Table.from_pylist([row]))
    store = FprStore(tmp_path, refresh_interval=0)
    store.refresh()

    import orjson

    record = orjson.loads(store.current.payloads[0])
    assert record["_deleted"] is False and record["next_best_action"] == "call"


def test_the_refresh_interval_limits_how_often_the_folder_is_listed(tmp_path: Path) -> None:
    store = FprStore(tmp_path, refresh_interval=60)
    store.refresh_if_due()
    write_fpr_day(tmp_path, _day(0), [fpr_row("FPR0000000001", _ts(_day(0), 9))])

    store.refresh_if_due()
    assert len(store.current) == 0, "within the interval the old snapshot is served"
    assert not store.refresh_due()


@pytest.fixture
def cursor_secret() -> Iterator[bytes]:
    yield derive_cursor_secret(FPR_TEST_API_KEY)


def test_cursors_survive_a_restart_because_the_derived_secret_is_stable(fpr_api: LiveApi, cursor_secret: bytes) -> None:
    cursor = get(fpr_api, page_size=3).json()["next_cursor"]
    position = decode_cursor(cursor, cursor_secret)  # what any server with the same key computes

    assert encode_cursor(position, cursor_secret) == cursor
