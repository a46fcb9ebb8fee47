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

from finmatch_platform.settings import DEFAULT_API_PORT, SettingsError, optional_secret

from . import faults, serving

PROG = "finmatch-api"
ENV_PREFIX = "FINMATCH_API_"
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


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the FPR change log from the landing zone: GET /fpr_data, /fpr_data/changes, "
        "/health and /openapi.json.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serving.add_source_arguments(parser, environ, ENV_PREFIX, DEFAULT_API_PORT)
    serving.add_option(
        parser,
        environ,
        "--profile",
        f"{ENV_PREFIX}PROFILE",
        "simulator",
        "simulator (default) or vendor: which contract to serve, see below",
    )
    serving.add_log_level(parser, environ, ENV_PREFIX)
    serving.add_access_log_and_faults(parser, faults.FPR_ENV_PREFIX)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    environ = os.environ
    args = build_parser(environ).parse_args(argv)
    try:
        start = serving.startup(
            args,
            environ,
            api_key_env="FINMATCH_API_KEY",
            env_prefix=ENV_PREFIX,
            fault_env_prefix=faults.FPR_ENV_PREFIX,
        )
    except serving.UsageError as exc:
        return serving.fail(PROG, str(exc))
    # Checked here rather than by argparse choices, so a bad FINMATCH_API_PROFILE is caught too.
    if args.profile not in PROFILES:
        return serving.fail(
            PROG, f"--profile / FINMATCH_API_PROFILE must be one of {', '.join(PROFILES)}, not {args.profile!r}"
        )
    try:
        cursor_secret = optional_secret("FINMATCH_CURSOR_SECRET", environ)
    except SettingsError as exc:
        return serving.fail(PROG, str(exc))

    # Imported late: --help and configuration errors answer without loading pyarrow and FastAPI.
    from .app import create_app
    from .storage import FprStore

    serving.configure_logging(args.log_level)
    vendor = args.profile == "vendor"
    store = FprStore(start.landing_dir, refresh_interval=args.refresh_seconds, vendor_ids=vendor)
    store.refresh()  # serve the full feed from the first request; later days load incrementally
    secret = cursor_secret.encode("utf-8") if cursor_secret else None
    app = create_app(store, start.api_key, secret, start.fault_config, args.profile)
    log = logging.getLogger("finmatch.api")
    log.info("serving %d FPR records from %s (profile %s)", len(store.current), store.root, args.profile)
    if start.fault_config.active:
        log.warning("fault injection on: %s", start.fault_config)

    serving.serve(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
