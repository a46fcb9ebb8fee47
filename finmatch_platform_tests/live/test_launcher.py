"""The launcher's set-up, without starting anything: local secrets (generated once, never over a
variable the user set), each process's share of them, and private directories."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from finmatch_platform import launcher
from finmatch_platform_tests.helpers.core import REPO_ROOT


@pytest.fixture
def umask_restored() -> Iterator[None]:
    """``prepare`` sets the process's umask, as it should in the launcher; not in the test's."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_local_secrets_fill_only_what_the_user_did_not_set_and_never_rotate(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("FINMATCH_API_KEY=from-the-file\nFINMATCH_MASKING_KEY=masking-from-the-file", encoding="utf-8")
    environ = {"FINMATCH_API_KEY": "exported-by-the-user", "FINMATCH_PAYSCORE_API_KEY": ""}

    taken = launcher.load_local_secrets(environ, path)

    assert environ["FINMATCH_API_KEY"] == "exported-by-the-user"
    assert environ["FINMATCH_MASKING_KEY"] == "masking-from-the-file"
    # Empty counts as unset; the missing ones were generated into the file, after what it had.
    assert sorted(taken) == ["FINMATCH_MASKING_KEY", "FINMATCH_PAYSCORE_API_KEY"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["FINMATCH_API_KEY=from-the-file", "FINMATCH_MASKING_KEY=masking-from-the-file"]
    assert [line.split("=")[0] for line in lines[2:]] == ["FINMATCH_PAYSCORE_API_KEY"]
    assert all(len(line.split("=", 1)[1]) >= 32 for line in lines[2:])

    again: dict[str, str] = {}
    launcher.load_local_secrets(again, path)
    assert path.read_text(encoding="utf-8").splitlines() == lines  # nothing rotates
    assert again["FINMATCH_PAYSCORE_API_KEY"] == environ["FINMATCH_PAYSCORE_API_KEY"]


def test_a_new_secrets_file_is_owner_only_and_untouched_when_the_environment_has_every_key(
    tmp_path: Path, umask_restored: None
) -> None:
    path = tmp_path / "fresh" / "secrets.env"
    launcher.load_local_secrets({}, path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    elsewhere = tmp_path / "unused" / "secrets.env"
    complete = {name: f"{name.lower()}-exported" for name in launcher.GENERATED_KEYS}
    assert launcher.load_local_secrets(dict(complete), elsewhere) == []
    assert not elsewhere.parent.exists()


def test_the_apis_get_only_their_own_secrets_and_dagster_all_but_the_cursor_secret() -> None:
    environ = {
        "PATH": "/usr/bin",
        "FINMATCH_API_KEY": "a",
        "FINMATCH_API_KEY_HEADER": "x-api-key",
        "FINMATCH_CURSOR_SECRET": "c",
        "FINMATCH_MASKING_KEY": "m",
        "FINMATCH_PAYSCORE_API_KEY": "p",
        "FINMATCH_WAREHOUSE_KEY": "w",
        "FINMATCH_LLM_MODEL": "local",
        "FINMATCH_LLM_API_KEY_ENV": "VENDOR_LLM_TOKEN",
        "VENDOR_LLM_TOKEN": "t",
        "FINMATCH_DATA_DIR": "/data",
    }
    settings = {"PATH", "FINMATCH_API_KEY_HEADER", "FINMATCH_DATA_DIR"}

    assert set(launcher.scoped_env(environ, launcher.FPR_API_SECRETS)) == settings | {
        "FINMATCH_API_KEY",
        "FINMATCH_CURSOR_SECRET",
    }
    assert set(launcher.scoped_env(environ, launcher.PAYSCORE_API_SECRETS)) == settings | {"FINMATCH_PAYSCORE_API_KEY"}
    assert set(launcher.scoped_env(environ, ())) == settings
    assert set(launcher.scoped_env(environ, None)) == set(environ) - {"FINMATCH_CURSOR_SECRET"}


def test_prepare_makes_the_data_directory_and_dagster_home_owner_only(
    tmp_path: Path, umask_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared-data"
    shared.mkdir(mode=0o755)
    environ = {
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),
        "FINMATCH_DATA_DIR": str(tmp_path / "data"),
        "FINMATCH_SECRETS_FILE": str(tmp_path / "secrets.env"),
        "FINMATCH_START_DATE": "2026-10-01",
    }

    launcher.prepare(environ, REPO_ROOT)

    for directory in (tmp_path / "home" / "dagster", tmp_path / "data"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home" / "dagster" / "dagster.yaml").stat().st_mode) == 0o600
    assert os.umask(0o022) == 0o077  # what every process started next inherits
    assert environ["FINMATCH_LANDING_DIR"] == str(tmp_path / "data" / "landing")

    # A directory the user made open is left as it is, with a warning that names it.
    launcher.prepare({**environ, "FINMATCH_DATA_DIR": str(shared)}, REPO_ROOT)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert f"{shared} is open to other users (mode 0755)" in capsys.readouterr().err
