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

from . import serving

DEFAULT_PAYSCORE_PORT = 8766
API_KEY_ENV = "FINMATCH_PAYSCORE_API_KEY"
ENV_PREFIX = "FINMATCH_PAYSCORE_"
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


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Serve PayScore screening groups from the landing zone: GET /api/v1/screening-groups, "
        "/health and /openapi.json.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serving.add_source_arguments(parser, environ, ENV_PREFIX, DEFAULT_PAYSCORE_PORT)
    serving.add_log_level(parser, environ, ENV_PREFIX)
    drift_flags = (
        ("--drift-updates", "groups changed per drifting request (0: off)"),
        ("--drift-requests", "data requests after which the feed drifts, then it is stable (default 0: every request)"),
        ("--drift-seed", "seed of the drift's choices (default 0)"),
    )
    for flag, help_text in drift_flags:
        variable = ENV_PREFIX + flag[2:].replace("-", "_").upper()
        serving.add_option(parser, environ, flag, variable, 0, help_text, type=int)
    serving.add_access_log_and_faults(parser, FAULT_ENV_PREFIX)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    environ = os.environ
    args = build_parser(environ).parse_args(argv)
    try:
        start = serving.startup(
            args, environ, api_key_env=API_KEY_ENV, env_prefix=ENV_PREFIX, fault_env_prefix=FAULT_ENV_PREFIX
        )
    except serving.UsageError as exc:
        return serving.fail(_PROG, str(exc))
    for name in ("drift_updates", "drift_requests"):
        if getattr(args, name) < 0:
            flag = name.replace("_", "-")
            return serving.fail(_PROG, f"--{flag} / {ENV_PREFIX}{name.upper()} must not be negative")

    # Imported late: --help and configuration errors answer without loading pyarrow and FastAPI.
    from .payscore import DriftConfig, PayScoreStore, create_app

    serving.configure_logging(args.log_level)
    log = logging.getLogger("finmatch.payscore")
    store = PayScoreStore(start.landing_dir, refresh_interval=args.refresh_seconds)
    store.refresh()  # serve the full feed from the first request; later days load incrementally
    drift = DriftConfig(updates=args.drift_updates, requests=args.drift_requests, seed=args.drift_seed)
    app = create_app(store, start.api_key, start.fault_config, drift)
    log.info("serving %d screening groups from %s", len(store.current), store.root)
    if start.fault_config.active:
        log.warning("fault injection on: %s", start.fault_config)
    if drift.active:
        log.warning("page drift on: %s", drift)

    serving.serve(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
