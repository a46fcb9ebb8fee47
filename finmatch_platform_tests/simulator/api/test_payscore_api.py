"""The simulated PayScore API, against a real ``finmatch-payscore-api`` process on 127.0.0.1.

Read-only tests share one server over a four-day landing zone; tests that land days, inject
faults or drift the feed start their own through ``start_payscore_api``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from finmatch_platform.simulator.api.faults import FaultConfig, decide
from finmatch_platform.simulator.api.payscore import PayScoreStore
from finmatch_platform_tests.helpers.payscore import (
    PAYSCORE_DATA_PATH,
    PAYSCORE_TEST_API_KEY,
    LivePayScore,
    expected_screening_groups,
    land_screening_group_days,
    launch_payscore_api,
    naive_walk,
    payscore_generation_config,
    request_with_retries,
    stable_state,
)

_UTC = dt.UTC
_SERVER = Path(sys.executable).with_name("finmatch-payscore-api")


@pytest.fixture(scope="module")
def payscore_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four generated days (read-only: do not write to it)."""
    root = tmp_path_factory.mktemp("payscore-landing")
    land_screening_group_days(root, payscore_generation_config(), 4)
    return root


@pytest.fixture(scope="module")
def payscore_api(payscore_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePayScore]:
    api = launch_payscore_api(payscore_landing, log_dir=tmp_path_factory.mktemp("payscore-api-logs"))
    yield api
    api.stop()


def _page_all(api: LivePayScore, per_page: int, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in range(1, 10_000):
        body = api.get(page=page, per_page=per_page, **params).json()
        if not body["data"]:
            return rows
        rows.extend(body["data"])
    raise AssertionError("the feed never ended")


def _micros_later(iso: str, micros: int) -> str:
    moment = dt.datetime.fromisoformat(iso) + dt.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- auth and input


def test_health_answers_without_a_key_with_the_count_and_the_high_water_mark(
    payscore_api: LivePayScore, payscore_landing: Path
) -> None:
    expected = expected_screening_groups(payscore_landing)
    health = requests.get(f"{payscore_api.base_url}/health", timeout=5).json()
    assert health == {
        "status": "ok",
        "records": len(expected),
        "files": 4,
        "high_water_updated_at": expected[-1]["updated_at"],
        "drift_requests_left": 0,
        "gap": None,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {PAYSCORE_TEST_API_KEY}"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "wrong-scheme", "empty"],
)
def test_a_missing_or_wrong_bearer_token_is_a_401_in_json(payscore_api: LivePayScore, headers: dict[str, str]) -> None:
    response = requests.get(payscore_api.url, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthorized" and body["detail"]
    assert PAYSCORE_TEST_API_KEY not in response.text


def test_the_right_bearer_token_is_served(payscore_api: LivePayScore) -> None:
    response = requests.get(payscore_api.url, headers={"authorization": f"bearer {PAYSCORE_TEST_API_KEY}"}, timeout=5)
    assert response.status_code == 200 and response.json()["data"]


@pytest.mark.parametrize(
    ("params", "parameter", "rule"),
    [
        ({"page": 0}, "page", "between 1 and 2147483647"),
        ({"page": -3}, "page", "between 1 and 2147483647"),
        ({"page": "two"}, "page", "between 1 and 2147483647"),
        ({"page": 10**30}, "page", "between 1 and 2147483647"),
        ({"per_page": 0}, "per_page", "between 1 and 1000"),
        ({"per_page": 1001}, "per_page", "between 1 and 1000"),
        ({"per_page": "1.5"}, "per_page", "between 1 and 1000"),
        ({"updated_since": "yesterday"}, "updated_since", "ISO 8601"),
        ({"updated_since": "2026-13-01T00:00:00Z"}, "updated_since", "ISO 8601"),
        ({"updated_since": "2026-10-01T00:00:00+25:00"}, "updated_since", "ISO 8601"),
        ({"updated_since": "x" * 65}, "updated_since", "ISO 8601"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_parameter_and_its_range(
    payscore_api: LivePayScore, params: dict[str, Any], parameter: str, rule: str
) -> None:
    response = payscore_api.get(**params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_parameter" and body["parameter"] == parameter
    assert parameter in body["detail"] and rule in body["detail"]


def test_unknown_paths_and_methods_answer_json(payscore_api: LivePayScore) -> None:
    missing = requests.get(f"{payscore_api.base_url}/api/v1/nothing", headers=payscore_api.headers, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = requests.post(payscore_api.url, headers=payscore_api.headers, timeout=5)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


# --------------------------------------------------------------------------- paging


@pytest.mark.parametrize("per_page", [1, 7, 100, 1000])
def test_paging_serves_every_latest_version_once_in_updated_at_then_id_order(
    payscore_api: LivePayScore, payscore_landing: Path, per_page: int
) -> None:
    expected = expected_screening_groups(payscore_landing)
    assert _page_all(payscore_api, per_page) == expected
    keys = [(r["updated_at"], r["id"]) for r in expected]
    assert keys == sorted(keys) and len({r["id"] for r in expected}) == len(expected)
    # the opening day's bulk imports tie on updated_at, so the id must break ties
    assert len({r["updated_at"] for r in expected}) < len(expected)


def test_pagination_reports_totals_and_a_page_past_the_end_is_empty(
    payscore_api: LivePayScore, payscore_landing: Path
) -> None:
    total = len(expected_screening_groups(payscore_landing))
    assert payscore_api.get().json()["pagination"] == {
        "page": 1,
        "per_page": 100,
        "total_pages": -(-total // 100),
        "total": total,
    }
    last = -(-total // 30)
    body = payscore_api.get(page=last, per_page=30).json()
    assert len(body["data"]) == total - 30 * (last - 1)
    assert body["pagination"] == {"page": last, "per_page": 30, "total_pages": last, "total": total}
    beyond = payscore_api.get(page=last + 1, per_page=30).json()
    assert beyond == {"data": [], "pagination": {"page": last + 1, "per_page": 30, "total_pages": last, "total": total}}
    assert payscore_api.get(page=2**31 - 1).json()["data"] == []
    too_far = payscore_api.get(page=2**31)
    assert too_far.status_code == 400 and "between 1 and 2147483647" in too_far.json()["detail"]


def test_updated_since_is_inclusive_and_reads_z_offsets_dates_and_naive_values(
    payscore_api: LivePayScore, payscore_landing: Path
) -> None:
    expected = expected_screening_groups(payscore_landing)
    pivot = expected[-20]
    since = pivot["updated_at"]
    tail = [r for r in expected if r["updated_at"] >= since]
    assert _page_all(payscore_api, 1000, updated_since=since) == tail
    assert tail[0]["updated_at"] == since  # inclusive
    later = _micros_later(since, 1)
    assert _page_all(payscore_api, 1000, updated_since=later) == [r for r in expected if r["updated_at"] > since]

    moment = dt.datetime.fromisoformat(since)
    ist = moment.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()
    naive = moment.replace(tzinfo=None).isoformat()
    for spelling in (ist, naive, since.replace("Z", "+00:00")):
        assert _page_all(payscore_api, 1000, updated_since=spelling) == tail, spelling
    body = payscore_api.get(updated_since=since, per_page=1).json()
    assert body["pagination"]["total"] == len(tail) and body["pagination"]["total_pages"] == len(tail)

    day = payscore_generation_config().start_date + dt.timedelta(days=3)
    assert _page_all(payscore_api, 1000, updated_since=day.isoformat()) == expected_screening_groups(
        payscore_landing, dt.datetime.combine(day, dt.time(), _UTC)
    )
    assert payscore_api.get(updated_since="2100-01-01T00:00:00Z").json()["pagination"]["total"] == 0
    assert payscore_api.get(updated_since="").json()["pagination"]["total"] == len(expected)  # empty: absent


def test_rows_render_iso_utc_microsecond_timestamps_nested_settings_and_integer_counts(
    payscore_api: LivePayScore,
) -> None:
    rows = payscore_api.get(per_page=1000).json()["data"]
    iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
    for row in rows:
        assert list(row) == [
            "id",
            "name",
            "description",
            "status",
            "created_at",
            "updated_at",
            "organization_id",
            "settings",
            "member_count",
        ]
        assert iso.fullmatch(row["created_at"]) and iso.fullmatch(row["updated_at"])
        assert isinstance(row["settings"], dict) and isinstance(row["settings"]["notifications"], dict)
        assert isinstance(row["member_count"], int) and not isinstance(row["member_count"], bool)
        assert row["status"] in ("active", "inactive", "archived")
    assert any(row["description"] is None for row in rows)


def test_a_newly_landed_day_is_served_without_a_restart(start_payscore_api: Any, tmp_path: Path) -> None:
    config = payscore_generation_config()
    land_screening_group_days(tmp_path, config, 2)
    api = start_payscore_api(tmp_path)
    assert _page_all(api, 1000) == expected_screening_groups(tmp_path)
    before = api.health()["high_water_updated_at"]

    land_screening_group_days(tmp_path, config, [config.start_date + dt.timedelta(days=2)])

    assert _page_all(api, 1000) == expected_screening_groups(tmp_path)
    assert api.health()["files"] == 3 and api.health()["high_water_updated_at"] > before
    changed = _page_all(api, 1000, updated_since=_micros_later(before, 1))
    assert len(changed) == config.screening_groups_per_day + config.screening_group_updates_per_day


def test_an_empty_landing_zone_serves_an_empty_feed(start_payscore_api: Any, tmp_path: Path) -> None:
    api = start_payscore_api(tmp_path)
    assert api.get().json() == {"data": [], "pagination": {"page": 1, "per_page": 100, "total_pages": 0, "total": 0}}
    assert api.health()["high_water_updated_at"] is None


# --------------------------------------------------------------------------- faults


def test_faults_follow_the_seeded_sequence_on_the_data_path_only(
    start_payscore_api: Any, payscore_landing: Path
) -> None:
    config = FaultConfig(
        seed=4, drop_rate=0.2, rate_limit=0.2, error_rate=0.2, retry_after=2, error_statuses=(502, 503)
    )
    # The FPR API's variables must not fault this server.
    api = start_payscore_api(payscore_landing, env={"FINMATCH_FAULT_ERROR_RATE": "1"}, **dataclasses.asdict(config))
    outcomes: list[str | int] = []
    for n in range(30):
        assert requests.get(f"{api.base_url}/health", timeout=5).status_code == 200  # never faulted nor counted
        assert requests.get(f"{api.base_url}/openapi.json", timeout=5).status_code == 200
        predicted = decide(config, n)
        try:
            response = api.get(per_page=5)
        except requests.ConnectionError:
            assert predicted.kind == "drop", f"request {n}: unexpected drop"
            outcomes.append("drop")
            continue
        outcomes.append(response.status_code)
        if predicted.kind == "rate_limit":
            assert response.status_code == 429 and response.headers["Retry-After"] == "2"
        elif predicted.kind == "error":
            assert response.status_code == predicted.status and response.json()["error"] == "upstream_unavailable"
        else:
            assert response.status_code == 200, f"request {n}"
    assert {"drop", 429, 200} <= set(outcomes) and set(outcomes) & {502, 503}


def test_fault_flags_override_the_payscore_variables(start_payscore_api: Any, payscore_landing: Path) -> None:
    api = start_payscore_api(
        payscore_landing, rate_limit=0.0, args=("--fault-rate-limit", "1", "--fault-latency-ms", "100")
    )
    started = time.monotonic()
    response = api.get()
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert time.monotonic() - started >= 0.1


def test_a_retrying_client_gets_the_whole_feed_through_faults(start_payscore_api: Any, payscore_landing: Path) -> None:
    api = start_payscore_api(payscore_landing, seed=9, drop_rate=0.15, rate_limit=0.15, error_rate=0.15, retry_after=0)
    assert stable_state(api, per_page=25) == expected_screening_groups(payscore_landing)


def test_an_out_of_range_fault_setting_stops_the_server_naming_its_variable(tmp_path: Path) -> None:
    env = {**os.environ, "FINMATCH_PAYSCORE_API_KEY": PAYSCORE_TEST_API_KEY, "FINMATCH_PAYSCORE_FAULT_ERROR_RATE": "2"}
    result = subprocess.run(
        [str(_SERVER), "--landing-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "FINMATCH_PAYSCORE_FAULT_ERROR_RATE / --fault-error-rate must be a share between 0 and 1" in result.stderr


# --------------------------------------------------------------------------- drift


def test_page_drift_makes_a_naive_page_walker_miss_and_repeat_groups(
    start_payscore_api: Any, payscore_landing: Path
) -> None:
    source = expected_screening_groups(payscore_landing)
    api = start_payscore_api(payscore_landing, drift_updates=3, drift_requests=8, drift_seed=1)
    assert api.health()["drift_requests_left"] == 8

    walked = naive_walk(api, per_page=20)
    stable = stable_state(api)

    assert api.health()["drift_requests_left"] == 0
    assert {r["id"] for r in stable} == {r["id"] for r in source}  # drift changes groups, never adds any
    stable_ids = [r["id"] for r in stable]
    assert len(stable_ids) == len(set(stable_ids))
    drifted = [r for r in stable if r["updated_at"] > source[-1]["updated_at"]]
    assert 3 < len(drifted) <= 3 * 8
    by_id = {r["id"]: r for r in source}
    assert all(r["member_count"] > by_id[r["id"]]["member_count"] for r in drifted)
    assert all(
        {**r, "updated_at": None, "member_count": None} == {**by_id[r["id"]], "updated_at": None, "member_count": None}
        for r in drifted
    )

    seen = Counter(r["id"] for r in walked)
    missed = set(stable_ids) - set(seen)
    repeated = {gid for gid, count in seen.items() if count > 1}
    assert missed, "a naive walker should skip rows shifted onto pages it has already read"
    assert repeated, "a naive walker should see groups changed after it read them again"
    # ...and once the drift is spent, the same walk is exact.
    assert naive_walk(api, per_page=20) == stable


def test_without_a_request_limit_the_feed_drifts_on_every_request(
    start_payscore_api: Any, payscore_landing: Path
) -> None:
    api = start_payscore_api(payscore_landing, drift_updates=2)
    assert api.health()["drift_requests_left"] is None
    first = api.health()["high_water_updated_at"]
    for _ in range(3):
        request_with_retries(api, per_page=1)
    assert api.health()["high_water_updated_at"] > first
    with pytest.raises(AssertionError, match="no stable state"):
        stable_state(api)


def test_drifted_versions_survive_a_rebuild_of_the_feed(tmp_path: Path) -> None:
    config = payscore_generation_config(screening_groups=30)
    land_screening_group_days(tmp_path, config, 2)
    store = PayScoreStore(tmp_path, refresh_interval=0)
    store.refresh()
    changed = store.drift(range(0, 5), range(5, len(store.current)), 4, random.Random(0))
    assert len(changed) == 4 and {k.record_id for k in store.current.keys[-4:]} == set(changed)
    land_screening_group_days(tmp_path, config, [config.start_date])  # a replaced file: full rebuild
    assert store.refresh()
    assert {k.record_id for k in store.current.keys[-4:]} == set(changed)


# --------------------------------------------------------------------------- the server process


def test_the_openapi_document_describes_the_endpoint_parameters_and_bearer_auth(payscore_api: LivePayScore) -> None:
    doc = requests.get(f"{payscore_api.base_url}/openapi.json", timeout=5).json()
    operation = doc["paths"][PAYSCORE_DATA_PATH]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"page", "per_page", "updated_since"}
    assert params["per_page"]["schema"]["maximum"] == 1000 and params["per_page"]["schema"]["default"] == 100
    assert params["page"]["schema"]["minimum"] == 1
    assert {"400", "401", "429"} <= set(operation["responses"]) and "422" not in operation["responses"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_the_api_key_is_never_logged(payscore_api: LivePayScore) -> None:
    payscore_api.get()
    requests.get(payscore_api.url, headers={"Authorization": "Bearer wrong-key-not-logged"}, timeout=5)
    log = payscore_api.log_text()
    assert PAYSCORE_TEST_API_KEY not in log and "wrong-key-not-logged" not in log


def test_the_server_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FINMATCH_PAYSCORE_API_KEY"}
    result = subprocess.run(
        [str(_SERVER), "--landing-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "FINMATCH_PAYSCORE_API_KEY is not set" in result.stderr


def test_help_documents_the_drift_and_fault_flags_with_their_variables() -> None:
    help_text = subprocess.run([str(_SERVER), "--help"], capture_output=True, text=True, timeout=60).stdout
    for flag, variable in (
        ("--drift-updates", "FINMATCH_PAYSCORE_DRIFT_UPDATES"),
        ("--drift-requests", "FINMATCH_PAYSCORE_DRIFT_REQUESTS"),
        ("--port", "FINMATCH_PAYSCORE_PORT"),
        ("--fault-error-rate", "FINMATCH_PAYSCORE_FAULT_ERROR_RATE"),
    ):
        assert flag in help_text and variable in help_text, flag


@pytest.mark.slow
def test_two_hundred_thousand_groups_page_through_completely_at_a_thousand_per_page(
    start_payscore_api: Any, tmp_path: Path
) -> None:
    # Speed at this size is measured by `make bench` (bench_payscore.py), not asserted here.
    config = payscore_generation_config(screening_groups=200_000, screening_group_updates_per_day=2_000)
    land_screening_group_days(tmp_path, config, 2)
    api = start_payscore_api(tmp_path, startup_timeout=120)
    session = requests.Session()
    session.headers.update(api.headers)

    total, page, ids = 0, 1, set()
    while True:
        body = session.get(api.url, params={"page": page, "per_page": 1000}, timeout=30).json()
        total += len(body["data"])
        ids.update(group["id"] for group in body["data"])
        if page >= body["pagination"]["total_pages"]:
            break
        page += 1

    assert total == 200_000 + config.screening_groups_per_day and page == 201
    assert len(ids) == total
    since = session.get(api.url, params={"updated_since": body["data"][-1]["updated_at"]}, timeout=30).json()
    assert since["pagination"]["total"] >= 1


def test_fuzzing_the_openapi_document_never_gets_a_5xx_or_an_off_schema_answer(payscore_api: LivePayScore) -> None:
    schema = schemathesis.openapi.from_url(f"{payscore_api.base_url}/openapi.json")
    # The key is sent by the caller on every request: a case that drops or garbles the header would
    # be sent with it anyway, so it is not generated.
    schema.config.generation.update(with_security_parameters=False)
    operation = schema[PAYSCORE_DATA_PATH]["GET"]
    session = requests.Session()
    common = {"deadline": None, "database": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}

    @settings(max_examples=80, **common)
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def valid_requests_are_accepted(case: schemathesis.Case) -> None:
        assert case.call_and_validate(session=session, headers=payscore_api.headers).status_code == 200

    @settings(max_examples=200, **common)
    @given(case=st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)))
    def nothing_breaks_the_server(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            session=session, headers=payscore_api.headers, excluded_checks=[positive_data_acceptance]
        )
        assert response.status_code < 500

    valid_requests_are_accepted()
    nothing_breaks_the_server()
