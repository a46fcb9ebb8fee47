"""The PayScore screening-group generator: a deterministic change log, one file per day."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES, ENTITIES, PRIMARY_KEYS, SCREENING_GROUPS
from finmatch_platform.simulator.generation import ConfigError, GenerationConfig, generate_day, write_day
from finmatch_platform.simulator.generation import screening_groups as sg

START = dt.date(2026, 10, 1)
DAYS = 12
CONFIG = GenerationConfig(
    seed=5,
    start_date=START,
    customers=50,
    screening_groups=120,
    screening_groups_per_day=3,
    screening_group_updates_per_day=15,
)


def _day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


@pytest.fixture(scope="module")
def history() -> dict[dt.date, pa.Table]:
    return {_day(k): sg.screening_groups_table(CONFIG, _day(k)) for k in range(DAYS)}


def _versions(history: dict[dt.date, pa.Table]) -> list[dict]:
    return [row | {"file_day": day} for day, table in history.items() for row in table.to_pylist()]


def test_the_same_seed_and_day_write_byte_identical_files(tmp_path: Path) -> None:
    for offset in (0, 5):
        first = landing.write_partition(
            tmp_path / "a", "screening_groups", _day(offset), sg.screening_groups_table(CONFIG, _day(offset))
        )
        sg.clear_caches()
        second = landing.write_partition(
            tmp_path / "b", "screening_groups", _day(offset), sg.screening_groups_table(CONFIG, _day(offset))
        )
        assert first.read_bytes() == second.read_bytes(), offset


def test_a_day_does_not_depend_on_the_days_generated_before_it() -> None:
    sg.clear_caches()
    alone = sg.screening_groups_table(CONFIG, _day(9))
    sg.clear_caches()
    for offset in (3, 10, 1, 8, 2):  # out of order: the replay cache must not leak state
        sg.screening_groups_table(CONFIG, _day(offset))
    assert sg.screening_groups_table(CONFIG, _day(9)).equals(alone)
    assert not sg.screening_groups_table(GenerationConfig(**{**CONFIG.to_dict(), "seed": 6}), _day(9)).equals(alone)


def test_generate_day_and_write_day_carry_the_entity_with_its_exact_schema(tmp_path: Path) -> None:
    tables = generate_day(CONFIG, _day(1))
    assert tables["screening_groups"].schema.equals(SCREENING_GROUPS, check_metadata=True)
    assert tables["screening_groups"].equals(sg.screening_groups_table(CONFIG, _day(1)))
    paths = write_day(CONFIG, tmp_path, _day(1))
    assert paths["screening_groups"] == landing.partition_file(tmp_path, "screening_groups", _day(1))
    assert landing.read_partition(tmp_path, "screening_groups", _day(1)).schema.equals(SCREENING_GROUPS)


def test_the_entity_is_in_the_contract_but_not_bulk_loaded() -> None:
    assert ENTITIES["screening_groups"] is SCREENING_GROUPS
    assert "screening_groups" not in BULK_LOADED_ENTITIES
    assert PRIMARY_KEYS["screening_groups"] == ("id", "updated_at")


def test_each_day_creates_and_updates_the_configured_numbers_of_groups(history: dict[dt.date, pa.Table]) -> None:
    for k, (day, table) in enumerate(history.items()):
        rows = table.to_pylist()
        created = [r for r in rows if r["created_at"] == r["updated_at"]]
        updated = [r for r in rows if r["created_at"] < r["updated_at"]]
        assert len(created) + len(updated) == len(rows)
        assert len(created) == (CONFIG.screening_groups if k == 0 else CONFIG.screening_groups_per_day), day
        assert len(updated) == (0 if k == 0 else CONFIG.screening_group_updates_per_day), day
        assert all(r["created_at"].date() < day for r in updated)
        assert len({r["id"] for r in rows}) == len(rows)  # at most one version of a group per day


def test_updates_never_exceed_the_groups_that_exist() -> None:
    config = GenerationConfig(
        start_date=START, screening_groups=4, screening_groups_per_day=0, screening_group_updates_per_day=50
    )
    assert sg.screening_groups_table(config, _day(1)).num_rows == 4


def test_each_file_holds_its_days_versions_in_change_order(history: dict[dt.date, pa.Table]) -> None:
    for day, table in history.items():
        rows = table.to_pylist()
        assert all(r["updated_at"].date() == day for r in rows), day
        keys = [(r["updated_at"], r["id"]) for r in rows]
        assert keys == sorted(keys), day


def test_a_later_version_is_later_and_keeps_what_never_changes(history: dict[dt.date, pa.Table]) -> None:
    by_id: dict[str, list[dict]] = {}
    for row in _versions(history):
        by_id.setdefault(row["id"], []).append(row)
    assert len(by_id) == CONFIG.screening_groups + (DAYS - 1) * CONFIG.screening_groups_per_day
    assert any(len(versions) > 2 for versions in by_id.values())
    for versions in by_id.values():
        times = [v["updated_at"] for v in versions]  # in file (day) order
        assert times == sorted(times) and len(set(times)) == len(times)
        assert versions[0]["created_at"] == versions[0]["updated_at"]
        for before, after in zip(versions, versions[1:], strict=False):
            for column in ("created_at", "name", "organization_id"):
                assert after[column] == before[column], column
            assert after["member_count"] != before["member_count"]  # every update moves the membership


def test_updates_change_status_settings_and_description(history: dict[dt.date, pa.Table]) -> None:
    changed = {"status": 0, "settings": 0, "description": 0}
    last: dict[str, dict] = {}
    for row in _versions(history):
        previous = last.get(row["id"])
        if previous is not None:
            for column in changed:
                changed[column] += row[column] != previous[column]
        last[row["id"]] = row
    assert all(count > 0 for count in changed.values()), changed


def test_values_follow_the_documented_shapes(history: dict[dt.date, pa.Table]) -> None:
    rows = _versions(history)
    assert {r["status"] for r in rows} == set(sg.STATUSES)
    assert all(re.fullmatch(r"sg_[0-9a-f]{16}", r["id"]) for r in rows)
    organizations = {r["organization_id"] for r in rows}
    assert all(re.fullmatch(r"org_[0-9a-f]{12}", o) for o in organizations)
    assert 1 < len(organizations) <= CONFIG.screening_group_organizations
    assert all(r["member_count"] >= 0 for r in rows)
    assert any(r["description"] is None for r in rows) and any(r["description"] for r in rows)
    for row in rows:
        settings = json.loads(row["settings"])
        assert isinstance(settings, dict)
        assert set(settings) == {
            "verification_type",
            "auto_approve_threshold",
            "required_documents",
            "notifications",
            "income_lookback_days",
        }
        assert 0 < settings["auto_approve_threshold"] < 1 and settings["required_documents"]
        assert set(settings["notifications"]) == {"email", "sms"}


def test_the_opening_day_has_ties_that_the_id_breaks(history: dict[dt.date, pa.Table]) -> None:
    times = history[START].column("updated_at").to_pylist()
    assert len(set(times)) < len(times)


def test_ids_are_unique_across_a_large_opening_set() -> None:
    config = GenerationConfig(start_date=START, screening_groups=200_000)
    ids = sg.screening_groups_table(config, START).column("id")
    assert len(ids) == 200_000 and pa.compute.count_distinct(ids).as_py() == 200_000


def test_zero_groups_give_empty_but_valid_tables() -> None:
    config = GenerationConfig(start_date=START, screening_groups=0, screening_groups_per_day=0)
    for day in (START, _day(1), _day(2)):
        table = sg.screening_groups_table(config, day)
        assert table.num_rows == 0 and table.schema.equals(SCREENING_GROUPS)


def test_bad_knobs_are_rejected_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="screening_groups must be between 0 and 1000000, got -1"):
        GenerationConfig(screening_groups=-1)
    with pytest.raises(ConfigError, match="screening_group_organizations must be between 1 and 1000"):
        GenerationConfig(screening_group_organizations=0)
    with pytest.raises(ConfigError, match="day must be on or after start_date"):
        sg.screening_groups_table(CONFIG, START - dt.timedelta(days=1))
