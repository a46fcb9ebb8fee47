"""Platform settings: working defaults, overridable by ``FINMATCH_*`` environment variables.

Secrets (API key, masking key, LLM key) have no defaults here: they come only from the
environment and are never printed. ``make run`` generates local ones on first start.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# The repository root in a checkout (the package is installed editable); data lives beside it.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_START_DATE = dt.date(2026, 10, 1)
DEFAULT_API_PORT = 8765
DEFAULT_HISTORY_DAYS = 30
DEFAULT_SENSOR_INTERVAL_S = 30
DEFAULT_PAYSCORE_PORT = 8766

# Every key is at least this long: shorter ones are guessable (and HMAC keys weaker than the hash).
MIN_KEY_BYTES = 16
API_KEY_ENV = "FINMATCH_API_KEY"
PAYSCORE_API_KEY_ENV = "FINMATCH_PAYSCORE_API_KEY"
MASKING_KEY_ENV = "FINMATCH_MASKING_KEY"
# The keys the Dagster code location uses (LLM keys are added per configured endpoint).
PLATFORM_KEYS = (API_KEY_ENV, PAYSCORE_API_KEY_ENV, MASKING_KEY_ENV)
# LLM endpoints may name only variables with this prefix as their key (api_key_env), so no
# configuration can send another secret (the masking key, say) to an endpoint as a Bearer token.
LLM_KEY_ENV_PREFIX = "FINMATCH_LLM_"
ALLOW_INSECURE_HTTP_ENV = "FINMATCH_ALLOW_INSECURE_HTTP"
API_URL_ENV = "FINMATCH_API_URL"
PAYSCORE_BASE_URL_ENV = "FINMATCH_PAYSCORE_BASE_URL"


class SettingsError(ValueError):
    """A FINMATCH_* variable holds a value the platform cannot use."""


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer between {low} and {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _date(name: str, default: dt.date) -> dt.date:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a date as YYYY-MM-DD, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    landing_dir: Path
    warehouse_path: Path
    start_date: dt.date
    seed: int
    customers: int
    daily_new_customers: int
    api_url: str
    # How many days of history `make run` lands on a fresh start (it sets FINMATCH_START_DATE).
    history_days: int = DEFAULT_HISTORY_DAYS
    # Minimum interval of the FPR API sensor and the automation sensor.
    sensor_interval_s: int = DEFAULT_SENSOR_INTERVAL_S
    # Whether the declarative-automation sensor starts running (it can be toggled in the UI).
    automation: bool = True
    # The header the FPR key is sent in: the documented api_key, or x-api-key.
    api_key_header: str = "api_key"
    # FINMATCH_PAYSCORE_*: the PayScore connector's settings, passed as they are to its resource,
    # which validates each against its range (resources/vendor_apis.py).
    payscore: dict[str, object] = field(default_factory=dict)
    # FINMATCH_ALLOW_INSECURE_HTTP=1: plain http:// to hosts that are not loopback (keys travel
    # unencrypted); off, such a URL is refused when its resource is made.
    allow_insecure_http: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("FINMATCH_DATA_DIR") or PROJECT_ROOT / "data").resolve()
        return cls(
            data_dir=data_dir,
            landing_dir=Path(_env("FINMATCH_LANDING_DIR") or data_dir / "landing").resolve(),
            warehouse_path=Path(
                _env("FINMATCH_WAREHOUSE_PATH") or data_dir / "warehouse" / "finmatch.duckdb"
            ).resolve(),
            start_date=_date("FINMATCH_START_DATE", DEFAULT_START_DATE),
            seed=_int("FINMATCH_SEED", 42, 0, 2**31 - 1),
            customers=_int("FINMATCH_CUSTOMERS", 2_000, 1, 5_000_000),
            daily_new_customers=_int("FINMATCH_DAILY_NEW_CUSTOMERS", 5, 0, 100_000),
            api_url=_env("FINMATCH_API_URL") or f"http://127.0.0.1:{DEFAULT_API_PORT}",
            history_days=_int("FINMATCH_HISTORY_DAYS", DEFAULT_HISTORY_DAYS, 1, 3650),
            sensor_interval_s=_int("FINMATCH_SENSOR_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL_S, 5, 86_400),
            automation=_int("FINMATCH_AUTOMATION", 1, 0, 1) == 1,
            api_key_header=_env("FINMATCH_API_KEY_HEADER") or "api_key",
            payscore=_payscore_env(),
            allow_insecure_http=_int(ALLOW_INSECURE_HTTP_ENV, 0, 0, 1) == 1,
        )


# FINMATCH_PAYSCORE_<NAME> -> the PayScore resource's field, with how to read the text.
_PAYSCORE_FIELDS: dict[str, type] = {
    "environment": str,
    "base_url": str,
    "initial_sync_days": int,
    "max_records_per_page": int,
    "request_timeout_seconds": float,
    "retry_attempts": int,
    "enable_incremental_sync": bool,
    "enable_screening_groups": bool,
    "sync_frequency_hours": int,
}


def payscore_field(name: str) -> str:
    """The resource field a FINMATCH_PAYSCORE_* setting sets (the vendor's name where it differs)."""
    return "request_timeout_s" if name == "request_timeout_seconds" else name


def payscore_variable(field_name: str) -> str:
    """The variable that sets a PayScore resource field, for messages."""
    name = "request_timeout_seconds" if field_name == "request_timeout_s" else field_name
    return f"FINMATCH_PAYSCORE_{name.upper()}"


def _payscore_env() -> dict[str, object]:
    values: dict[str, object] = {}
    for name, kind in _PAYSCORE_FIELDS.items():
        variable = f"FINMATCH_PAYSCORE_{name.upper()}"
        raw = _env(variable)
        if raw is None:
            continue
        target = payscore_field(name)
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise SettingsError(f"{variable} must be true or false, got {raw!r}")
            values[target] = raw.lower() in ("true", "1")
        elif kind is str:
            values[target] = raw
        else:
            try:
                values[target] = kind(raw)
            except ValueError:
                raise SettingsError(f"{variable} must be a number, got {raw!r}") from None
    return values


def check_secret(name: str, value: str) -> str:
    """``value`` if it is long enough for a key; the error names ``name``, never the value."""
    if len(value.encode("utf-8")) < MIN_KEY_BYTES:
        raise SettingsError(
            f"{name} is too short: a key must be at least {MIN_KEY_BYTES} bytes "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


def require_secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """A secret from the environment (at least MIN_KEY_BYTES long), or an error that says how to
    provide it (never its value)."""
    value = (os.environ if environ is None else environ).get(name) or None
    if value is None:
        raise SettingsError(f"{name} is not set. Export it (make run generates a local one in .finmatch/secrets.env).")
    return check_secret(name, value)


def optional_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A secret that may be unset (``None``); when set it must be long enough, as any key."""
    value = (os.environ if environ is None else environ).get(name) or None
    return None if value is None else check_secret(name, value)


def require_secrets(names: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """Every named key is set and long enough: called when a process starts, so a bad key stops
    it there rather than failing its first request."""
    for name in dict.fromkeys(names):
        require_secret(name, environ)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves the machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_url(url: str, variable: str, *, allow_insecure: bool) -> str:
    """``url`` without its trailing slash, if keys may be sent to it: https, or http to loopback
    (or anywhere when ``allow_insecure``). The error names ``variable``, the setting that holds it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{variable} must be an http:// or https:// URL with a host, got {_shown(url)!r}")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise ValueError(
            f"{variable} is {_shown(url)!r}: plain http:// is allowed only to loopback hosts (127.0.0.0/8, ::1, "
            f"localhost), since keys would cross the network unencrypted; use https://, or set "
            f"{ALLOW_INSECURE_HTTP_ENV}=1 to allow it"
        )
    return url.rstrip("/")


def _shown(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
