"""Headless Chromium (Debian's package; ``make test`` installs it) for tests that need a real browser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


def chromium_args(binary: str, profile: Path, *, width: int = 1200, height: int = 1600) -> list[str]:
    """A headless, offline-quiet browser with its own profile directory."""
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ]


@pytest.fixture(scope="session")
def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.skip(
        "chromium is not installed (Debian: apt-get update && apt-get install -y chromium; `make test` does it)"
    )


def dump_dom(binary: str, url: str, profile: Path, *, budget_ms: int = 20_000, timeout_s: float = 120) -> str:
    """The DOM after the page's scripts ran for ``budget_ms`` of virtual time (network waits pause it)."""
    completed = subprocess.run(
        [*chromium_args(binary, profile), f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout
