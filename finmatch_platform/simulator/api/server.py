"""``finmatch-api``: serve the FPR change log from the landing zone over HTTP (uvicorn, one worker).

Configuration (a flag wins over its variable):

==============================  ======================  ===================================================
Environment variable            Flag                    Meaning
==============================  ======================  ===================================================
FINMATCH_API_KEY                (none: env only)        required; clients send it as x-api-key or api_key
                                                        (the vendor profile reads api_key only)
FINMATCH_CURSOR_SECRET          (none: env only)        cursor signing secret; derived from the key if unset
FINMATCH_LANDING_DIR            --landing-dir DIR       landing zone root (default: settings' landing dir)
FINMATCH_API_HOST               --host HOST             bind address (default 127.0.0.1)
FINMATCH_API_PORT               --port PORT             port (default 8765)
FINMATCH_API_REFRESH_SECONDS    --refresh-seconds S     seconds between looks for new days (1; 0: always)
FINMATCH_API_PROFILE            --profile PROFILE       simulator (default) or vendor: see below
FINMATCH_API_LOG_LEVEL          --log-level LEVEL       uvicorn/app log level (default info)
(none)                          --access-log            log every request (off by default, for speed)
==============================  ======================  ===================================================

Profiles: ``simulator`` is the feed the platform's connectors were written for (both key headers,
``has_more`` on every page, ``/fpr_data/changes``). ``vendor`` follows the vendor's document to the
letter: only the ``api_key`` header, pages ``{"fpr_records", "next_cursor"}`` without ``has_more``
(a client stops on an empty page), no changes endpoint (404), record_id a UUID (uuid5 of the landed
id, stable across restarts) and customer_id ``CUST_`` + 6 digits.

plus the fault-injection knobs of :mod:`finmatch_platform.simulator.api.faults` (``FINMATCH_FAULT_*`` /
``--fault-*``). Secrets are taken only from the environment, so they never appear in a process
listing, and are never logged: a missing key stops the server with a message naming the variable.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from finmatch_platform.settings import DEFAULT_API_PORT, Settings, SettingsError, require_secret

from . import faults
from .serving import serve

# The same names as app.PROFILES, spelled out so --help answers without importing FastAPI.
PROFILES = ("simulator", "vendor")

_EPILOG = """\
environment:
  FINMATCH_API_KEY        required; the key clients send as x-api-key (or api_key). Never logged.
  FINMATCH_CURSOR_SECRET  optional; signs cursors (default: derived from the API key, so rotating
                          the key invalidates stored cursors).
  Every other flag above can be set by the variable shown in its help.

profiles (--profile / FINMATCH_API_PROFILE):
  simulator  the default: x-api-key or api_key; pages carry has_more; /fpr_data/changes for sensors.
  vendor     the vendor's document to the letter: the api_key header only (x-api-key alone is a
             401); pages are {"fpr_records": [...], "next_cursor": "..."} and a client stops on an
             empty page; no /fpr_data/changes (404); record_id is a UUID (uuid5 of the landed id,
             stable across requests and restarts) and customer_id CUST_ + 6 digits.

fault injection is deterministic given --fault-seed: the n-th data request meets the same fate on
every run. Faults touch /fpr_data and /fpr_data/changes only, never /health.
"""


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finmatch-api",
        description="Serve the FPR change log from the landing zone: GET /fpr_data, /fpr_data/changes, "
        "/health and /openapi.json.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default=_env(environ, "FINMATCH_API_HOST") or "127.0.0.1",
        help="bind address (default 127.0.0.1) [env FINMATCH_API_HOST]",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=_env(environ, "FINMATCH_API_PORT") or DEFAULT_API_PORT,
        help=f"port (default {DEFAULT_API_PORT}) [env FINMATCH_API_PORT]",
    )
    parser.add_argument(
        "--landing-dir",
        type=Path,
        default=None,
        help="landing zone root (default: data/landing) [env FINMATCH_LANDING_DIR]",
    )
    parser.add_argument(
        "--refresh-seconds",
        type=float,
        default=_env(environ, "FINMATCH_API_REFRESH_SECONDS") or 1.0,
        help="seconds between looks for newly landed days; 0 looks on every request "
        "(default 1) [env FINMATCH_API_REFRESH_SECONDS]",
    )
    parser.add_argument(
        "--profile",
        default=_env(environ, "FINMATCH_API_PROFILE") or "simulator",
        help="simulator (default) or vendor: which contract to serve, see below [env FINMATCH_API_PROFILE]",
    )
    parser.add_argument(
        "--log-level",
        default=_env(environ, "FINMATCH_API_LOG_LEVEL") or "info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default info) [env FINMATCH_API_LOG_LEVEL]",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    faults.add_arguments(parser)
    return parser


def _fail(message: str) -> int:
    print(f"finmatch-api: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    environ = os.environ
    args = build_parser(environ).parse_args(argv)
    try:
        api_key = require_secret("FINMATCH_API_KEY")
        landing_dir = args.landing_dir or Settings.from_env().landing_dir
        fault_config = faults.from_args(args, environ)
    except (SettingsError, faults.FaultConfigError) as exc:
        return _fail(str(exc))
    if args.refresh_seconds < 0:
        return _fail("--refresh-seconds / FINMATCH_API_REFRESH_SECONDS must not be negative")
    # Checked here rather than by argparse choices, so a bad FINMATCH_API_PROFILE is caught too.
    if args.profile not in PROFILES:
        return _fail(f"--profile / FINMATCH_API_PROFILE must be one of {', '.join(PROFILES)}, not {args.profile!r}")
    cursor_secret = _env(environ, "FINMATCH_CURSOR_SECRET")

    # Imported late: --help and configuration errors answer without loading pyarrow and FastAPI.
    from .app import create_app
    from .storage import FprStore

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    vendor = args.profile == "vendor"
    store = FprStore(landing_dir, refresh_interval=args.refresh_seconds, vendor_ids=vendor)
    store.refresh()  # serve the full feed from the first request; later days load incrementally
    app = create_app(
        store, api_key, cursor_secret.encode("utf-8") if cursor_secret else None, fault_config, args.profile
    )
    log = logging.getLogger("finmatch.api")
    log.info("serving %d FPR records from %s (profile %s)", len(store.current), store.root, args.profile)
    if fault_config.active:
        log.warning("fault injection on: %s", fault_config)

    serve(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
