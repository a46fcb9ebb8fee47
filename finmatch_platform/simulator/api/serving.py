"""What the vendor API commands share: their common flags, start-up checks and serving with uvicorn.

Each flag can be set by an environment variable (a flag wins over its variable); a command names
its variables with its own prefix (``FINMATCH_API_``, ``FINMATCH_PAYSCORE_``).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmatch_platform.settings import Settings, SettingsError, require_secret

from . import faults

LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]


class UsageError(ValueError):
    """A flag or variable the command cannot start with; the message names it."""


@dataclass(frozen=True)
class Startup:
    """What a command needs beyond its flags: the key, where the landing zone is, the faults."""

    api_key: str
    landing_dir: Path
    fault_config: faults.FaultConfig


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def add_option(
    parser: argparse.ArgumentParser,
    environ: Mapping[str, str],
    flag: str,
    variable: str,
    default: object,
    help_text: str,
    **kwargs: Any,
) -> None:
    """A flag defaulting to its environment variable, then to ``default``."""
    parser.add_argument(
        flag, default=env_value(environ, variable) or default, help=f"{help_text} [env {variable}]", **kwargs
    )


def add_source_arguments(
    parser: argparse.ArgumentParser, environ: Mapping[str, str], env_prefix: str, default_port: int
) -> None:
    """--host, --port, --landing-dir and --refresh-seconds."""
    add_option(parser, environ, "--host", f"{env_prefix}HOST", "127.0.0.1", "bind address (default 127.0.0.1)")
    add_option(parser, environ, "--port", f"{env_prefix}PORT", default_port, f"port (default {default_port})", type=int)
    parser.add_argument(
        "--landing-dir",
        type=Path,
        default=None,
        help="landing zone root (default: data/landing) [env FINMATCH_LANDING_DIR]",
    )
    add_option(
        parser,
        environ,
        "--refresh-seconds",
        f"{env_prefix}REFRESH_SECONDS",
        1.0,
        "seconds between looks for newly landed days; 0 looks on every request (default 1)",
        type=float,
    )


def add_log_level(parser: argparse.ArgumentParser, environ: Mapping[str, str], env_prefix: str) -> None:
    add_option(
        parser, environ, "--log-level", f"{env_prefix}LOG_LEVEL", "info", "log level (default info)", choices=LOG_LEVELS
    )


def add_access_log_and_faults(parser: argparse.ArgumentParser, fault_env_prefix: str) -> None:
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    faults.add_arguments(parser, env_prefix=fault_env_prefix)


def startup(
    args: argparse.Namespace, environ: Mapping[str, str], *, api_key_env: str, env_prefix: str, fault_env_prefix: str
) -> Startup:
    """The key, landing zone and faults of a start, checked; UsageError says what is wrong."""
    try:
        api_key = require_secret(api_key_env)
        landing_dir = args.landing_dir or Settings.from_env().landing_dir
        fault_config = faults.from_args(args, environ, env_prefix=fault_env_prefix)
    except (SettingsError, faults.FaultConfigError) as exc:
        raise UsageError(str(exc)) from None
    if args.refresh_seconds < 0:
        raise UsageError(f"--refresh-seconds / {env_prefix}REFRESH_SECONDS must not be negative")
    return Startup(api_key, landing_dir, fault_config)


def fail(prog: str, message: str) -> int:
    """Report a usage error as argparse does; the exit status to return."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(app: Any, *, host: str, port: int, log_level: str, access_log: bool) -> None:
    """Run ``app`` until stopped: one worker, no lifespan, no server header."""
    import uvicorn  # late: --help and configuration errors answer without loading it

    # httptools and uvloop are faster than h11/asyncio; fall back if absent.
    uvicorn.run(
        app,
        host=host,
        port=port,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="off",
        access_log=access_log,
        log_level=log_level,
        server_header=False,
        workers=None,
    )
