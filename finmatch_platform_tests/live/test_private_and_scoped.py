"""The running platform keeps its data private and each secret where it is needed:
``data/`` and DAGSTER_HOME owner-only, every process with umask 077, and each process's environment
(``/proc/<pid>/environ``) holding only its own keys, the exported ones winning over the secrets file.
"""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import pytest

from finmatch_platform_tests.helpers.core import TEST_MASKING_KEY
from finmatch_platform_tests.helpers.live import (
    FILE_PAYSCORE_KEY,
    LIVE_API_KEY,
    LivePlatform,
    command,
    service,
)

pytestmark = [pytest.mark.slow]

PLATFORM_KEYS = ("FINMATCH_API_KEY", "FINMATCH_MASKING_KEY", "FINMATCH_PAYSCORE_API_KEY")


def _umask(process: psutil.Process) -> int:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)


def test_the_data_directory_and_dagster_home_are_owner_only_and_so_is_everything_in_them(
    live_platform: LivePlatform,
) -> None:
    for directory in (live_platform.data_dir, live_platform.dagster_home):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        open_to_others = [
            f"{path.relative_to(directory)} {stat.S_IMODE(path.lstat().st_mode):04o}"
            for path in directory.rglob("*")
            if not path.is_symlink() and path.lstat().st_mode & 0o077
        ]
        assert not open_to_others, f"open to other users in {directory}: {open_to_others}"
    # The logs, dagster's storage and (once a run writes it) the warehouse are among them.
    assert (live_platform.data_dir / "dagster.log").exists()
    assert (live_platform.dagster_home / "storage").exists()
    # And whatever any process creates later: each runs with umask 077.
    processes = live_platform.processes()
    assert processes
    assert {command(p): f"{_umask(p):04o}" for p in processes if _umask(p) != 0o077} == {}


def test_each_process_holds_only_the_secrets_it_needs_and_an_exported_key_is_never_overwritten(
    live_platform: LivePlatform,
) -> None:
    processes = live_platform.processes()
    fpr_api = service(processes, "finmatch-api").environ()
    payscore_api = service(processes, "finmatch-payscore-api").environ()
    dagster = service(processes, "dagster dev").environ()
    webserver = service(processes, "dagster_webserver").environ()

    # Checked as named facts, so that a failure prints no key.
    checks = {
        # The network-facing APIs: their own key, nothing else (above all, no masking key).
        "the FPR API has the exported API key, not the secrets file's older one": (
            fpr_api.get("FINMATCH_API_KEY") == LIVE_API_KEY
        ),
        "the FPR API holds no other key": [k for k in PLATFORM_KEYS if k in fpr_api] == ["FINMATCH_API_KEY"],
        "the PayScore API has the key from the secrets file (not exported)": (
            payscore_api.get("FINMATCH_PAYSCORE_API_KEY") == FILE_PAYSCORE_KEY
        ),
        "the PayScore API holds no other key": (
            [k for k in PLATFORM_KEYS if k in payscore_api] == ["FINMATCH_PAYSCORE_API_KEY"]
        ),
        # Dagster (and the runs it starts) gets the platform's keys, the exported ones winning.
        "dagster has the exported API key": dagster.get("FINMATCH_API_KEY") == LIVE_API_KEY,
        "dagster has the exported masking key": dagster.get("FINMATCH_MASKING_KEY") == TEST_MASKING_KEY,
        "dagster has the file's PayScore key": dagster.get("FINMATCH_PAYSCORE_API_KEY") == FILE_PAYSCORE_KEY,
        # dagster dev's webserver inherits its environment, secrets included.
        "the webserver has the masking key": webserver.get("FINMATCH_MASKING_KEY") == TEST_MASKING_KEY,
    }
    assert [fact for fact, holds in checks.items() if not holds] == []
