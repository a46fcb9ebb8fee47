"""The connector debug command: reset, sync through the real engine, masked sample, summary.

Against the FPR and PayScore simulators on loopback (one of each for the module), as a child
process with its own environment and through ``main()`` in-process; the pure helpers directly.
"""

from __future__ import annotations

import datetime as dt
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from finmatch_platform.connector_debug import (
    debug_files,
    main,
    masked_sample,
    operation_counts,
    quarantine_masker,
    summary_table,
    value_masker,
)
from finmatch_platform.lib.connectors.sync import SyncSummary
from finmatch_platform.lib.masking import load_policy, policy_token
from finmatch_platform_tests.helpers.api import FPR_TEST_API_KEY, LiveApi, launch_api
from finmatch_platform_tests.helpers.extraction import generation_config, land_days
from finmatch_platform_tests.helpers.payscore import (
    PAYSCORE_TEST_API_KEY,
    LivePayScore,
    land_screening_group_days,
    launch_payscore_api,
    payscore_generation_config,
)

COMMAND = str(Path(sys.executable).with_name("finmatch-connector-debug"))
MASKING_KEY = "debug-masking-key-5d1f0e9a7c3b"
SUMMARY_LINE = re.compile(r"^  (\w+)\s+\| (\d+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def fpr_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    landing = tmp_path_factory.mktemp("fpr-landing")
    land_days(landing, generation_config(), 3)  # tombstones from the second day on
    api = launch_api(landing, tmp_path_factory.mktemp("fpr-logs"))
    yield api
    api.stop()


@pytest.fixture(scope="module")
def payscore_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePayScore]:
    landing = tmp_path_factory.mktemp("payscore-landing")
    land_screening_group_days(landing, payscore_generation_config(), 3)
    api = launch_payscore_api(landing, log_dir=tmp_path_factory.mktemp("payscore-logs"))
    yield api
    api.stop()


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}
    env.update(
        FINMATCH_DATA_DIR=str(tmp_path / "data"),
        FINMATCH_API_KEY=FPR_TEST_API_KEY,
        FINMATCH_PAYSCORE_API_KEY=PAYSCORE_TEST_API_KEY,
    )
    env.update(overrides)
    return env


def _run(args: list[str], env: dict[str, str], **options: object) -> subprocess.CompletedProcess[str]:
    options.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([COMMAND, *args], env=env, capture_output=True, text=True, timeout=120, **options)  # type: ignore[call-overload]


def _sample(output: str) -> str:
    """The printed sample table: between the query and the operation summary."""
    return output.split("Running query:", 1)[1].split("OPERATION SUMMARY", 1)[0]


def _counts(output: str) -> dict[str, int]:
    return {name: int(value) for name, value in SUMMARY_LINE.findall(output)}


def _set_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **overrides: str) -> None:
    for name in [k for k in os.environ if k.startswith("FINMATCH_")]:
        monkeypatch.delenv(name)
    for name, value in _env(tmp_path, **overrides).items():
        if name.startswith("FINMATCH_"):
            monkeypatch.setenv(name, value)


# --------------------------------------------------------------------------- against the simulators


def test_an_fpr_debug_run_resets_syncs_and_reports_what_is_in_the_file(fpr_api: LiveApi, tmp_path: Path) -> None:
    env = _env(tmp_path)
    db = tmp_path / "data" / "debug" / "fpr.duckdb"  # the default path under FINMATCH_DATA_DIR

    first = _run(["fpr", "--base-url", fpr_api.base_url, "--yes"], env)

    assert first.returncode == 0, first.stderr
    out = first.stdout + first.stderr
    counts = _counts(first.stdout)
    assert list(counts) == [
        "Upserts",
        "Updates",
        "Deletes",
        "Truncates",
        "SchemaChanges",
        "Checkpoints",
        "Merges",
        "Quarantined",
        "Retries",
    ]
    with duckdb.connect(str(db), read_only=True) as conn:
        live, tombstones = conn.execute(
            "select count(*) filter (not _deleted), count(*) filter (_deleted) from raw.fpr_records"
        ).fetchone()
        names = {
            v
            for row in conn.execute("select customer_name, customer_email from raw.fpr_records").fetchall()
            for v in row
            if v
        }
        record_ids = {r[0] for r in conn.execute("select record_id from raw.fpr_records").fetchall()}
        stored = conn.execute("select cursor from meta.extraction_state where stream = 'fpr_records'").fetchone()[0]
    assert counts["Upserts"] == live > 0 and counts["Deletes"] == tombstones > 0
    assert counts["Updates"] == counts["Truncates"] == counts["Quarantined"] == counts["Retries"] == 0
    assert counts["Checkpoints"] == out.count("Checkpoint saved after") == -(-(live + tombstones) // 100)
    assert f"raw.fpr_records: {live + tombstones} rows" in first.stdout
    assert "Fetching data with params: {'page_size': 100}" in first.stdout
    assert "Fetching data with params: {'page_size': 100, 'cursor': " in first.stdout
    assert f'Next sync state: {{"stream": "fpr_records", "position": "{stored}"}}' in first.stdout
    # Sample rows, PII redacted without a masking key, and no key anywhere.
    assert "select * from raw.fpr_records limit 5" in first.stdout and "5 rows" in first.stdout
    assert sum(record_id in _sample(first.stdout) for record_id in record_ids) == 5
    assert "[REDACTED]" in first.stdout and "FINMATCH_MASKING_KEY is not set" in first.stdout
    assert names and not [value for value in names if value in out]
    assert FPR_TEST_API_KEY not in out

    second = _run(["fpr", "--base-url", fpr_api.base_url, "--yes"], env)

    assert second.returncode == 0, second.stderr
    assert _counts(second.stdout) == counts  # reset and synced from the start again, not doubled
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.fpr_records").fetchone()[0] == live + tombstones
    assert not list(debug_files(db, "fpr_records")[0].glob("*.ckpt"))  # every checkpoint merged


def test_a_payscore_debug_run_in_process_reports_the_rows_of_its_file(
    payscore_api: LivePayScore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch, tmp_path)
    db = tmp_path / "payscore.duckdb"
    args = [
        "payscore",
        "--db",
        str(db),
        "--base-url",
        payscore_api.base_url,
        "--page-size",
        "50",
        "--rows",
        "3",
        "--yes",
    ]

    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out

    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute("select count(*) from raw.screening_group").fetchone()[0]
        ids = {r[0] for r in conn.execute("select id from raw.screening_group").fetchall()}
    counts = _counts(first)
    assert counts["Upserts"] == rows > 50 and counts["Deletes"] == counts["Updates"] == 0
    assert counts["Checkpoints"] == first.count("Checkpoint saved after") >= 1
    assert _counts(second) == counts
    assert "'per_page': 50" in first and "'updated_since': " in first
    assert "3 rows" in first and sum(i in _sample(first) for i in ids) == 3
    assert PAYSCORE_TEST_API_KEY not in first + second
    assert '"stream": "screening_group", "position": "{' in first


def test_with_a_masking_key_the_pii_columns_show_their_tokens(
    fpr_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch, tmp_path, FINMATCH_MASKING_KEY=MASKING_KEY)
    db = tmp_path / "fpr.duckdb"

    assert main(["fpr", "--db", str(db), "--base-url", fpr_api.base_url, "--yes"]) == 0

    out = capsys.readouterr().out
    policy = load_policy()
    with duckdb.connect(str(db), read_only=True) as conn:
        names = [r[0] for r in conn.execute("select customer_name from raw.fpr_records limit 5").fetchall()]
    tokens = [policy_token(policy, MASKING_KEY, "pii:name", name) for name in names if name]
    assert tokens and all(token in out for token in tokens)
    assert not [name for name in names if name and name in out] and "[REDACTED]" not in out
    assert MASKING_KEY not in out


def test_a_wrong_key_exits_1_with_a_message_naming_its_variable(fpr_api: LiveApi, tmp_path: Path) -> None:
    result = _run(
        ["fpr", "--base-url", fpr_api.base_url, "--yes"], _env(tmp_path, FINMATCH_API_KEY="wrong-key-77aa-0b5c9e")
    )

    assert result.returncode == 1
    assert "error:" in result.stderr and "check FINMATCH_API_KEY" in result.stderr
    assert "wrong-key-77aa-0b5c9e" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("source", "variable"),
    [("fpr", "FINMATCH_API_KEY"), ("payscore", "FINMATCH_PAYSCORE_API_KEY"), ("fpr", "FINMATCH_MASKING_KEY")],
)
def test_a_short_key_exits_1_naming_its_variable_before_anything_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], source: str, variable: str
) -> None:
    db = tmp_path / "debug.duckdb"
    db.write_bytes(b"previous run")
    _set_env(monkeypatch, tmp_path, **{variable: "short-key-15byt"})

    assert main([source, "--db", str(db), "--base-url", "http://127.0.0.1:9", "--yes"]) == 1
    err = capsys.readouterr().err
    assert f"{variable} is too short: a key must be at least 16 bytes" in err and "short-key-15byt" not in err
    assert db.read_bytes() == b"previous run"


def test_a_missing_payscore_key_exits_1_naming_its_variable(
    payscore_api: LivePayScore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch, tmp_path)
    monkeypatch.delenv("FINMATCH_PAYSCORE_API_KEY")

    assert main(["payscore", "--db", str(tmp_path / "p.duckdb"), "--base-url", payscore_api.base_url, "--yes"]) == 1
    assert "set FINMATCH_PAYSCORE_API_KEY" in capsys.readouterr().err


# --------------------------------------------------------------------------- the reset and its guards


def test_without_a_terminal_or_yes_it_refuses_and_deletes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "fpr.duckdb"
    db.write_bytes(b"previous run")

    result = _run(["fpr", "--db", str(db), "--base-url", "http://127.0.0.1:9"], _env(tmp_path))

    assert result.returncode == 2
    assert "no terminal to confirm the reset on: pass --yes" in result.stderr
    assert db.read_bytes() == b"previous run"


def test_on_a_terminal_any_answer_but_yes_keeps_the_files(tmp_path: Path) -> None:
    db = tmp_path / "fpr.duckdb"
    db.write_bytes(b"previous run")
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        result = _run(["fpr", "--db", str(db), "--base-url", "http://127.0.0.1:9"], _env(tmp_path), stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)

    assert result.returncode == 1
    assert "Do you want to continue? (y/N)" in result.stdout and "Aborted: nothing deleted." in result.stdout
    assert db.read_bytes() == b"previous run"


def test_it_never_resets_the_platform_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"the bank's data")
    _set_env(monkeypatch, tmp_path, FINMATCH_WAREHOUSE_PATH=str(warehouse))

    assert main(["fpr", "--db", str(warehouse), "--base-url", "http://127.0.0.1:9", "--yes"]) == 1
    assert "is the platform's warehouse" in capsys.readouterr().err
    assert warehouse.read_bytes() == b"the bank's data"


def test_a_page_size_out_of_range_names_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch, tmp_path)

    assert main(["fpr", "--db", str(tmp_path / "f.duckdb"), "--page-size", "500", "--yes"]) == 1
    assert "--page-size: Input should be less than or equal to 200" in capsys.readouterr().err


# --------------------------------------------------------------------------- pure helpers


def test_without_a_key_tagged_and_unclassified_columns_are_redacted_and_the_rest_shown() -> None:
    show = value_masker(load_policy(), "fpr_records", None)

    frame = masked_sample(
        ["record_id", "customer_name", "customer_email", "vendor_new_field", "account_balance"],
        [("FPR1", "Asha Rao", "asha@example.com", "surprise", 10.5), ("FPR2", None, None, None, None)],
        show,
    )

    assert frame.to_dict("records") == [
        {
            "record_id": "FPR1",
            "customer_name": "[REDACTED]",
            "customer_email": "[REDACTED]",
            "vendor_new_field": "[REDACTED]",
            "account_balance": 10.5,
        },
        {
            "record_id": "FPR2",
            "customer_name": None,
            "customer_email": None,
            "vendor_new_field": None,
            "account_balance": None,
        },
    ]


def test_with_a_key_tagged_columns_become_the_policy_tokens_the_masked_tables_use() -> None:
    policy = load_policy()
    show = value_masker(policy, "fpr_records", MASKING_KEY)

    assert show("customer_email", " Asha@Example.com") == policy_token(
        policy, MASKING_KEY, "pii:email", "asha@example.com"
    )
    assert show("CUSTOMER_NAME", "Asha Rao") == policy_token(policy, MASKING_KEY, "pii:name", "Asha Rao")
    assert show("customer_id", "C000000001") == "C000000001"  # the bank's surrogate id stays clear
    assert show("updated_at", dt.date(2026, 10, 1)) == dt.date(2026, 10, 1)


def test_quarantine_payloads_are_redacted_without_a_key_and_tokenised_with_one() -> None:
    policy = load_policy()
    record = {"record_id": "FPR1", "customer_name": "Asha Rao", "odd": 1}

    assert quarantine_masker(policy, "fpr_records", None)(record) == {
        "record_id": "FPR1",
        "customer_name": "[REDACTED]",
        "odd": "[REDACTED]",
    }
    assert quarantine_masker(policy, "fpr_records", None)(["not", "an", "object"]) == "[REDACTED]"
    masked = quarantine_masker(policy, "fpr_records", MASKING_KEY)(record)
    assert masked["customer_name"].startswith("tok_") and masked["record_id"] == "FPR1"


def test_the_summary_table_lists_the_vendor_operations_then_the_engine_ones() -> None:
    summary = SyncSummary(
        "fpr_records", False, None, inserted=590, updated=10, deleted=7, checkpoints=7, merges=1, schema_changes=1
    )

    table = summary_table(operation_counts(summary))

    assert table.splitlines()[0] == "==================== OPERATION SUMMARY ===================="
    assert _counts(table) == {
        "Upserts": 600,
        "Updates": 10,
        "Deletes": 7,
        "Truncates": 0,
        "SchemaChanges": 1,
        "Checkpoints": 7,
        "Merges": 1,
        "Quarantined": 0,
        "Retries": 0,
    }


def test_a_reset_deletes_the_file_its_wal_and_every_checkpoint_segment_of_the_stream(tmp_path: Path) -> None:
    db = tmp_path / "fpr.duckdb"
    log_dir = tmp_path / "fpr.checkpoints"
    log_dir.mkdir()
    for name in ("fpr_records.ckpt", "fpr_records.1.ckpt", "fpr_records.42.ckpt", "screening_group.1.ckpt"):
        (log_dir / name).touch()

    found_dir, files = debug_files(db, "fpr_records")

    assert found_dir == log_dir
    assert files[:2] == [db, tmp_path / "fpr.duckdb.wal"]
    assert sorted(p.name for p in files[2:]) == ["fpr_records.1.ckpt", "fpr_records.42.ckpt", "fpr_records.ckpt"]
