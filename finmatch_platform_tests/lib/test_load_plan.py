"""What ``make run`` loads on start: first start, restart after days offline, nothing to do."""

from __future__ import annotations

import pytest

from finmatch_platform.lib.load_plan import format_elapsed, plan_load, progress_line
from finmatch_platform.settings import Settings, SettingsError

DAYS = [f"2026-11-{d:02d}" for d in range(1, 31)]


def test_a_fresh_instance_lands_and_builds_the_whole_history() -> None:
    plan = plan_load(DAYS, landed_days=[], built_days=[], unmaterialized=["marts/recommendation_kpis"])
    assert plan.land == ("2026-11-01", "2026-11-30") and plan.days_to_land == 30
    assert plan.build == ("2026-11-01", "2026-11-30")
    assert plan.describe() == "landing 30 day(s), 2026-11-01 to 2026-11-30, then building every asset from them"


def test_a_restart_after_days_offline_lands_only_from_the_first_missing_day() -> None:
    plan = plan_load(DAYS, landed_days=DAYS[:27], built_days=DAYS[:27], unmaterialized=[])
    assert plan.land == ("2026-11-28", "2026-11-30") and plan.days_to_land == 3
    assert plan.build == ("2026-11-28", "2026-11-30")


def test_a_gap_in_the_middle_is_refilled_as_one_contiguous_range() -> None:
    landed = [d for d in DAYS if d != "2026-11-10"]
    plan = plan_load(DAYS, landed_days=landed, built_days=landed, unmaterialized=[])
    assert plan.land == ("2026-11-10", "2026-11-30") and plan.days_to_land == 21


def test_landed_days_whose_facts_were_never_built_are_built_without_landing_again() -> None:
    plan = plan_load(DAYS, landed_days=DAYS, built_days=DAYS[-1:], unmaterialized=["marts/recommendation_kpis"])
    assert plan.land is None
    assert plan.build == ("2026-11-01", "2026-11-30")
    assert plan.describe() == "every day is landed; building the warehouse for 2026-11-01 to 2026-11-30"


def test_only_unpartitioned_assets_missing_builds_the_latest_day() -> None:
    plan = plan_load(DAYS, landed_days=DAYS, built_days=DAYS, unmaterialized=["insights/report"])
    assert plan.land is None and plan.build == ("2026-11-30", "2026-11-30")


def test_everything_present_means_nothing_to_load() -> None:
    plan = plan_load(DAYS, landed_days=DAYS, built_days=DAYS, unmaterialized=[])
    assert not plan.needed and plan.build is None
    assert "nothing to load" in plan.describe()


def test_progress_line_reads_like_a_terminal_status() -> None:
    line = progress_line(65, "build", "STARTED", 18, 62, ["customers", "staging"])
    assert line == "[1:05] assets 18/62 materialized | build: STARTED | now: customers, staging"
    assert format_elapsed(3599.6) == "60:00"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FINMATCH_HISTORY_DAYS", "0", "FINMATCH_HISTORY_DAYS must be between 1 and 3650, got 0"),
        ("FINMATCH_SENSOR_INTERVAL_SECONDS", "1", "FINMATCH_SENSOR_INTERVAL_SECONDS must be between 5 and 86400"),
        ("FINMATCH_HISTORY_DAYS", "a month", "FINMATCH_HISTORY_DAYS must be an integer between 1 and 3650"),
    ],
)
def test_bad_load_settings_name_the_variable_and_the_range(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()
