"""``make run``: the platform on embedded defaults, started and stopped as one.

``scripts/run.sh`` execs ``python -m finmatch_platform.launcher``, which

1. makes everything it creates private: umask 077 for itself and every process it starts, and
   ``data/`` (``FINMATCH_DATA_DIR``) and ``.dagster_home/`` (``DAGSTER_HOME``) owner-only;
2. fills the keys the environment lacks from ``.finmatch/secrets.env`` (``FINMATCH_SECRETS_FILE``),
   generating there, once, any key neither holds; a variable the user set is never overwritten;
3. fixes the calendar on the first start (``data/platform.env``, see ``_start_date``);
4. starts the FPR API, the PayScore API, ``dagster dev`` and the initial load under
   ``supervisor.run``, each with only the secrets it needs: the network-facing APIs never hold
   the masking key (see ``scoped_env``).

Ctrl-C, SIGINT, SIGTERM or SIGHUP to it, or its death by SIGKILL, stops every process it started.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import stat
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path

from dotenv import dotenv_values

from finmatch_platform import supervisor
from finmatch_platform.settings import DEFAULT_API_PORT, DEFAULT_PAYSCORE_PORT, PROJECT_ROOT, Settings, SettingsError

# The keys a local run generates when neither the environment nor the secrets file has them.
GENERATED_KEYS = (
    "FINMATCH_API_KEY",
    "FINMATCH_MASKING_KEY",
    "FINMATCH_PAYSCORE_API_KEY",
)
# Secrets a service may hold beyond what every process gets; None: all of them but API_ONLY's.
FPR_API_SECRETS = frozenset({"FINMATCH_API_KEY", "FINMATCH_CURSOR_SECRET"})
PAYSCORE_API_SECRETS = frozenset({"FINMATCH_PAYSCORE_API_KEY"})
# Only the FPR API signs cursors; the platform never needs that secret.
API_ONLY_SECRETS = frozenset({"FINMATCH_CURSOR_SECRET"})
# dagster dev stops its webserver and daemon in a few seconds; what is left after this is killed,
# well inside the 20 s in which `make run` promises to have stopped everything.
STOP_GRACE_S = 12.0


def secret_names(environ: Mapping[str, str]) -> set[str]:
    """The secrets in ``environ``: every FINMATCH_*_KEY and FINMATCH_*_SECRET, all of the LLM's
    FINMATCH_LLM_* settings, and the variable FINMATCH_LLM_API_KEY_ENV names."""
    names = {
        name
        for name in environ
        if name.startswith("FINMATCH_") and (name.endswith(("_KEY", "_SECRET")) or name.startswith("FINMATCH_LLM_"))
    }
    if named := environ.get("FINMATCH_LLM_API_KEY_ENV"):
        names.add(named)
    return names


def scoped_env(environ: Mapping[str, str], allowed: Iterable[str] | None) -> dict[str, str]:
    """``environ`` without the secrets a process has no use for: every secret but ``allowed``
    (None: every secret but the APIs' own ones)."""
    secret = secret_names(environ)
    keep = secret - API_ONLY_SECRETS if allowed is None else set(allowed)
    return {name: value for name, value in environ.items() if name not in secret or name in keep}


def _is_set(environ: Mapping[str, str], name: str) -> bool:
    # Empty counts as unset, as in settings.py: an empty key is no key.
    return bool(environ.get(name))


def _default(environ: MutableMapping[str, str], name: str, value: str) -> None:
    if not _is_set(environ, name):
        environ[name] = value


def fill_from_file(environ: MutableMapping[str, str], path: Path) -> list[str]:
    """Set each variable of the env file ``path`` that ``environ`` lacks; never overwrite one.
    Returns the names set."""
    taken = []
    for name, value in dotenv_values(path).items():
        if value and not _is_set(environ, name):
            environ[name] = value
            taken.append(name)
    return taken


def load_local_secrets(environ: MutableMapping[str, str], path: Path) -> list[str]:
    """Fill the keys ``environ`` lacks from the secrets file, first appending to it a random key
    for each it lacks too (existing keys never rotate). Returns the names taken from the file."""
    missing = [name for name in GENERATED_KEYS if not _is_set(environ, name)]
    if not missing:
        return []
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stored = dotenv_values(path) if path.exists() else {}
    new = [name for name in missing if not stored.get(name)]
    if new:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as out:
            if text and not text.endswith("\n"):
                out.write("\n")
            out.writelines(f"{name}={secrets.token_urlsafe(32)}\n" for name in new)
    return fill_from_file(environ, path)


def private_dir(path: Path) -> None:
    """Create ``path`` owner-only; warn (never chmod a directory the user made) if it is not."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        print(
            f"warning: {path} is open to other users (mode {mode:04o}); `chmod 700 {path}` makes it private",
            file=sys.stderr,
        )


def _start_date(environ: MutableMapping[str, str], data_dir: Path) -> None:
    """The first start fixes the calendar: daily partitions begin FINMATCH_HISTORY_DAYS (default
    30) before today, so the initial load lands that much history. Kept beside the data so the
    partitions stay put across restarts; removing the data directory starts the bank over."""
    if _is_set(environ, "FINMATCH_START_DATE"):
        return
    path = data_dir / "platform.env"
    if not path.exists():
        start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=Settings.from_env().history_days)
        path.write_text(f"FINMATCH_START_DATE={start}\n", encoding="utf-8")
    fill_from_file(environ, path)


def _services(environ: Mapping[str, str]) -> list[supervisor.Service]:
    bin_dir = Path(sys.executable).parent
    logs = Path(environ["FINMATCH_DATA_DIR"])
    api_url, payscore_url = environ["FINMATCH_API_URL"], environ["FINMATCH_PAYSCORE_BASE_URL"]
    ui_host = environ.get("FINMATCH_UI_HOST") or "127.0.0.1"
    ui_port = environ.get("FINMATCH_UI_PORT") or "3000"
    ui_url = f"http://{ui_host}:{ui_port}"
    api_port = environ.get("FINMATCH_API_PORT") or str(DEFAULT_API_PORT)
    payscore_port = environ.get("FINMATCH_PAYSCORE_PORT") or str(DEFAULT_PAYSCORE_PORT)
    services = [
        supervisor.Service(
            "finmatch-api",
            [str(bin_dir / "finmatch-api"), "--host", "127.0.0.1", "--port", api_port],
            scoped_env(environ, FPR_API_SECRETS),
            log=logs / "finmatch-api.log",
            banner=[f"FinMatch FPR API:  {api_url} (docs at {api_url}/docs, log in {logs}/finmatch-api.log)"],
        ),
        supervisor.Service(
            "finmatch-payscore-api",
            [str(bin_dir / "finmatch-payscore-api"), "--host", "127.0.0.1", "--port", payscore_port],
            scoped_env(environ, PAYSCORE_API_SECRETS),
            log=logs / "finmatch-payscore-api.log",
            banner=[
                f"PayScore API:      {payscore_url} (docs at {payscore_url}/docs, "
                f"log in {logs}/finmatch-payscore-api.log)"
            ],
        ),
        supervisor.Service(
            "dagster dev",
            [str(bin_dir / "dagster"), "dev", "-w", "workspace.yaml", "-h", ui_host, "-p", ui_port],
            scoped_env(environ, None),
            log=logs / "dagster.log",
            banner=[
                f"FinMatch Dagster:  {ui_url}  (Ctrl-C stops everything)",
                f"Dagster log:       {logs}/dagster.log",
            ],
        ),
    ]
    if environ.get("FINMATCH_INITIAL_LOAD", "1") != "0":
        # Lands the history (or the days missed while stopped) and builds everything once, with
        # progress on the terminal; it talks only to the webserver, so it holds no secret.
        services.append(
            supervisor.Service(
                "initial load",
                [sys.executable, "-m", "finmatch_platform.initial_load", "--url", ui_url],
                scoped_env(environ, ()),
                essential=False,
                stop_signal=signal.SIGTERM,
                failure_note=(
                    f"The initial load did not finish; the platform keeps running (see the UI and {logs}/dagster.log)."
                ),
            )
        )
    return services


def prepare(environ: MutableMapping[str, str], root: Path) -> None:
    """Everything before the first process starts: umask, private directories, secrets, calendar,
    URLs. Only here (and ``main``) is the environment read, as settings.py reads it elsewhere."""
    os.umask(0o077)
    _default(environ, "DAGSTER_HOME", str(root / ".dagster_home"))
    _default(environ, "FINMATCH_DATA_DIR", str(root / "data"))
    _default(environ, "FINMATCH_LANDING_DIR", str(Path(environ["FINMATCH_DATA_DIR"]) / "landing"))
    dagster_home, data_dir = Path(environ["DAGSTER_HOME"]), Path(environ["FINMATCH_DATA_DIR"])
    private_dir(dagster_home)
    private_dir(data_dir)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_bytes((root / "scripts" / "dagster.yaml").read_bytes())

    secrets_file = Path(environ.get("FINMATCH_SECRETS_FILE") or root / ".finmatch" / "secrets.env")
    load_local_secrets(environ, secrets_file)
    _start_date(environ, data_dir)

    api_port = environ.get("FINMATCH_API_PORT") or str(DEFAULT_API_PORT)
    _default(environ, "FINMATCH_API_URL", f"http://127.0.0.1:{api_port}")
    payscore_port = environ.get("FINMATCH_PAYSCORE_PORT") or str(DEFAULT_PAYSCORE_PORT)
    _default(environ, "FINMATCH_PAYSCORE_BASE_URL", f"http://127.0.0.1:{payscore_port}")


def main() -> int:
    try:
        prepare(os.environ, PROJECT_ROOT)
    except (SettingsError, OSError) as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    return supervisor.run(_services(os.environ), cwd=PROJECT_ROOT, grace_s=STOP_GRACE_S)


if __name__ == "__main__":
    raise SystemExit(main())
