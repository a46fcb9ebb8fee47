"""``finmatch-payscore-api``: serve the PayScore screening groups from the landing zone (uvicorn, one worker).

Configuration (a flag wins over its variable):

==================================  =======================  ===============================================
Environment variable                Flag                     Meaning
==================================  =======================  ===============================================
FINMATCH_PAYSCORE_API_KEY           (none: env only)         required; clients send Authorization: Bearer <key>
FINMATCH_LANDING_DIR                --landing-dir DIR        landing zone root (default: settings' landing dir)
FINMATCH_PAYSCORE_HOST              --host HOST              bind address (default 127.0.0.1)
FINMATCH_PAYSCORE_PORT              --port PORT              port (default 8766)
FINMATCH_PAYSCORE_REFRESH_SECONDS   --refresh-seconds S      seconds between looks for new days (1; 0: always)
FINMATCH_PAYSCORE_LOG_LEVEL         --log-level LEVEL        uvicorn/app log level (default info)
FINMATCH_PAYSCORE_DRIFT_UPDATES     --drift-updates N        groups changed after each drifting request (0: off)
FINMATCH_PAYSCORE_DRIFT_REQUESTS    --drift-requests M       data requests that drift (default 0: all of them)
FINMATCH_PAYSCORE_DRIFT_SEED        --drift-seed N           seed of the drift's choices (default 0)
(none)                              --access-log             log every request (off by default, for speed)
==================================  =======================  ===============================================

plus the fault-injection knobs of :mod:`finmatch_platform.simulator.api.faults`: the same ``--fault-*`` flags
as ``finmatch-api``, read from ``FINMATCH_PAYSCORE_FAULT_*`` (not ``FINMATCH_FAULT_*``, so faulting
one simulated vendor leaves the other alone), applied to ``/api/v1/screening-groups`` only. The key
is taken only from the environment and never logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from finmatch_platform.settings import Settings, SettingsError, require_secret

from . import faults
from .serving import serve

DEFAULT_PAYSCORE_PORT = 8766
API_KEY_ENV = "FINMATCH_PAYSCORE_API_KEY"
FAULT_ENV_PREFIX = "FINMATCH_PAYSCORE_FAULT_"
_PROG = "finmatch-payscore-api"

_EPILOG = f"""\
environment:
  {API_KEY_ENV}  required; the key clients send as Authorization: Bearer <key>. Never logged.
  Every other flag above can be set by the variable shown in its help.

page drift (off by default) stands in for a vendor database updated while a client pages: after
each of the first M data requests (M = --drift-requests; 0 means every request), N groups
(N = --drift-updates) get a new version later than every other and a changed member_count, half
among the rows that request's client has already been served, half among rows it has not reached.
Once M requests have been served the feed is stable again; /health reports drift_requests_left.

fault injection is deterministic given --fault-seed: the n-th data request meets the same fate on
every run. Faults touch /api/v1/screening-groups only, never /health; their variables are
{FAULT_ENV_PREFIX}* (the FPR API's are FINMATCH_FAULT_*).
"""


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Serve PayScore screening groups from the landing zone: GET /api/v1/screening-groups, "
        "/health and /openapi.json.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def option(flag: str, variable: str, default: object, help_text: str, **kwargs: object) -> None:
        parser.add_argument(
            flag,
            default=_env(environ, variable) or default,
            help=f"{help_text} [env {variable}]",
            **kwargs,  # type: ignore[arg-type]
        )

    option("--host", "FINMATCH_PAYSCORE_HOST", "127.0.0.1", "bind address (default 127.0.0.1)")
    option("--port", "FINMATCH_PAYSCORE_PORT", DEFAULT_PAYSCORE_PORT, "port (default 8766)", type=int)
    parser.add_argument(
        "--landing-dir",
        type=Path,
        default=None,
        help="landing zone root (default: data/landing) [env FINMATCH_LANDING_DIR]",
    )
    option(
        "--refresh-seconds",
        "FINMATCH_PAYSCORE_REFRESH_SECONDS",
        1.0,
        "seconds between looks for newly landed days; 0 looks on every request (default 1)",
        type=float,
    )
    option(
        "--log-level",
        "FINMATCH_PAYSCORE_LOG_LEVEL",
        "info",
        "log level (default info)",
        choices=["critical", "error", "warning", "info", "debug"],
    )
    option(
        "--drift-updates",
        "FINMATCH_PAYSCORE_DRIFT_UPDATES",
        0,
        "groups changed per drifting request (0: off)",
        type=int,
    )
    option(
        "--drift-requests",
        "FINMATCH_PAYSCORE_DRIFT_REQUESTS",
        0,
        "data requests after which the feed drifts, then it is stable (default 0: every request)",
        type=int,
    )
    option("--drift-seed", "FINMATCH_PAYSCORE_DRIFT_SEED", 0, "seed of the drift's choices (default 0)", type=int)
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    faults.add_arguments(parser, env_prefix=FAULT_ENV_PREFIX)
    return parser


def _fail(message: str) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    environ = os.environ
    args = build_parser(environ).parse_args(argv)
    try:
        api_key = require_secret(API_KEY_ENV)
        landing_dir = args.landing_dir or Settings.from_env().landing_dir
        fault_config = faults.from_args(args, environ, env_prefix=FAULT_ENV_PREFIX)
    except (SettingsError, faults.FaultConfigError) as exc:
        return _fail(str(exc))
    if args.refresh_seconds < 0:
        return _fail("--refresh-seconds / FINMATCH_PAYSCORE_REFRESH_SECONDS must not be negative")
    for name in ("drift_updates", "drift_requests"):
        if getattr(args, name) < 0:
            flag = name.replace("_", "-")
            return _fail(f"--{flag} / FINMATCH_PAYSCORE_{name.upper()} must not be negative")

    # Imported late: --help and configuration errors answer without loading pyarrow and FastAPI.
    from .payscore import DriftConfig, PayScoreStore, create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("finmatch.payscore")
    store = PayScoreStore(landing_dir, refresh_interval=args.refresh_seconds)
    store.refresh()  # serve the full feed from the first request; later days load incrementally
    drift = DriftConfig(updates=args.drift_updates, requests=args.drift_requests, seed=args.drift_seed)
    app = create_app(store, api_key, fault_config, drift)
    log.info("serving %d screening groups from %s", len(store.current), store.root)
    if fault_config.active:
        log.warning("fault injection on: %s", fault_config)
    if drift.active:
        log.warning("page drift on: %s", drift)

    serve(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
