"""Starting the simulated vendor API servers for tests: a real process on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests


@dataclass
class LiveServer:
    base_url: str
    api_key: str
    landing_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_server(
    executable: Path,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    args: Sequence[str] = (),
    port: int | None = None,
    startup_timeout: float = 30.0,
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``executable --host 127.0.0.1 --port P`` and wait until its /health answers 200.

    Returns the process, its base URL and its log. A free port can be taken between the probe
    and the bind, so without ``port`` another one is tried (three in all).
    """
    last_error = ""
    for _attempt in range(1 if port else 3):
        chosen = port or free_port()
        log_path = Path(log_dir) / f"{executable.name}-{chosen}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [str(executable), "--host", "127.0.0.1", "--port", str(chosen), *args],
                env=dict(env),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{chosen}"
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"{base_url}/health", timeout=1).status_code == 200:
                    return process, base_url, log_path
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        stop_process(process)
        last_error = log_path.read_text(errors="replace")
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"{executable.name} did not become healthy:\n{last_error}")
