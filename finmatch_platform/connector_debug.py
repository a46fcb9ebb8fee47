"""Reset, sync and inspect one vendor source locally: the connector developer's debug loop.

The counterpart of the FPR vendor SDK's ``debug_and_reset.sh``: delete a local DuckDB file and its
checkpoint log, sync the source into it from the start through the real engine (logging each
request's parameters and each checkpoint), print sample rows with PII columns as tokens or
``[REDACTED]``, the operation summary and the next sync state. Keys come only from the environment;
a key that is set must be at least 16 bytes, checked before anything is deleted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from pydantic import ValidationError

from finmatch_platform.lib.connectors.http import ExtractionError, RestClient
from finmatch_platform.lib.connectors.planner import RAW_SCHEMA
from finmatch_platform.lib.connectors.sync import SyncSummary, sync_source
from finmatch_platform.lib.connectors.writer import read_state, table_exists
from finmatch_platform.lib.masking import KEY_ENV_VAR, MaskingKeyError, Policy, key_id, load_policy, policy_token
from finmatch_platform.lib.quarantine_masking import payload_masker
from finmatch_platform.resources.vendor_apis import (
    FprApiResource,
    PayScoreApiResource,
    VendorApiResource,
    invalid_settings,
)
from finmatch_platform.settings import (
    API_KEY_ENV,
    API_URL_ENV,
    PAYSCORE_API_KEY_ENV,
    PAYSCORE_BASE_URL_ENV,
    Settings,
    SettingsError,
    optional_secret,
)

log = logging.getLogger("finmatch.connector_debug")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
RULE = "=" * 59


class _LoggingClient(RestClient):
    """Logs each request's parameters as the vendor SDK's debug mode does (the key is in a header)."""

    def get(self, path: str, params: dict[str, Any]) -> Any:
        log.info("Fetching data with params: %s", params)
        return super().get(path, params)


def build_resource(
    source: str, settings: Settings, environ: Mapping[str, str], base_url: str | None, page_size: int | None
) -> VendorApiResource:
    """The source's resource as the platform configures it; a short key fails here, an empty one at
    the first request."""
    key = optional_secret(API_KEY_ENV if source == "fpr" else PAYSCORE_API_KEY_ENV, environ) or ""
    insecure = settings.allow_insecure_http
    try:
        if source == "fpr":
            fpr = {"base_url": base_url or settings.api_url, "api_key_header": settings.api_key_header}
            return FprApiResource(api_key=key, allow_insecure_http=insecure, **fpr, **_given(page_size=page_size))
        payscore = {**settings.payscore, **_given(base_url=base_url, max_records_per_page=page_size)}
        return PayScoreApiResource(api_key=key, allow_insecure_http=insecure, **payscore)
    except ValidationError as exc:
        url_env = API_URL_ENV if source == "fpr" else PAYSCORE_BASE_URL_ENV
        names = {"base_url": f"--base-url or {url_env}", "api_key_header": "FINMATCH_API_KEY_HEADER"}
        if page_size:  # else the PayScore page size came from its variable
            names |= dict.fromkeys(("page_size", "max_records_per_page"), "--page-size")
        raise invalid_settings(source, exc, names) from None


def _given(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}


def debug_files(db: Path, stream: str) -> tuple[Path, list[Path]]:
    """The checkpoint-log folder beside ``db``, and what a reset deletes: the file, its WAL and the
    stream's checkpoint log (``<stream>.ckpt``, or its segments ``<stream>.<seq>.ckpt``)."""
    log_dir = db.with_name(db.stem + ".checkpoints")
    return log_dir, [db, db.with_name(db.name + ".wal"), *sorted(log_dir.glob(f"{stream}*.ckpt"))]


def value_masker(policy: Policy, table: str, key: str | None) -> Callable[[str, Any], Any]:
    """How a column's value is shown: tagged, as its token (redacted without a key); a column the
    policy does not know, redacted (unless the table passes unknown columns); else as stored."""
    table_policy = policy.table(table)
    known = {name.lower(): name for name in table_policy.columns}
    keep_unknown = table_policy.unknown_columns == "pass"

    def show(column: str, value: Any) -> Any:
        name = known.get(column.lower())
        tag = None if name is None else policy.governing_tag(table, name)
        if value is None or (tag is None and (name is not None or keep_unknown)):
            return value  # NULL, an untagged column, or an unknown one the table passes through
        return policy_token(policy, key, tag.name, value) if key and tag else policy.redact_text

    return show


def quarantine_masker(policy: Policy, table: str, key: str | None) -> Callable[[Any], Any]:
    """The engine's payload masker with a key; without one (debug mode) the same fields redacted."""
    if key:
        return payload_masker(policy, key, table)
    show = value_masker(policy, table, None)

    def redact(record: Any) -> Any:
        return {k: show(str(k), v) for k, v in record.items()} if isinstance(record, dict) else policy.redact_text

    return redact


def masked_sample(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], show: Callable[[str, Any], Any]
) -> pd.DataFrame:
    return pd.DataFrame(
        [[show(c, v) for c, v in zip(columns, row, strict=True)] for row in rows], columns=list(columns), dtype=object
    )


def operation_counts(summary: SyncSummary) -> dict[str, int]:
    """The vendor's operation summary, plus what this engine also does (merges, quarantine, retries)."""
    return {
        "Upserts": summary.upserts,
        "Updates": summary.updated,
        "Deletes": summary.deleted,
        "Truncates": summary.truncates,
        "SchemaChanges": summary.schema_changes,
        "Checkpoints": summary.checkpoints,
        "Merges": summary.merges,
        "Quarantined": summary.quarantined,
        "Retries": summary.retries,
    }


def summary_table(counts: Mapping[str, int]) -> str:
    lines = ["=" * 20 + " OPERATION SUMMARY " + "=" * 20, "  Operation       | Calls", "  " + "-" * 16 + "+" + "-" * 12]
    return "\n".join([*lines, *(f"  {name:<15} | {count}" for name, count in counts.items()), RULE])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finmatch-connector-debug",
        description="Reset a local DuckDB debug file, sync one vendor source into it from the start and "
        "print masked sample rows, the operation summary and the next sync state.",
        epilog=f"Keys: FINMATCH_API_KEY (fpr), FINMATCH_PAYSCORE_API_KEY (payscore), {KEY_ENV_VAR} (tokens "
        "for PII; unset: [REDACTED]). Exit status: 0 synced, 1 failed or declined, 2 usage or no terminal.",
    )
    parser.add_argument("source", choices=("fpr", "payscore"), help="the vendor source to debug")
    parser.add_argument("--db", type=Path, help="the debug DuckDB file (default: <data dir>/debug/<source>.duckdb)")
    parser.add_argument("--base-url", help="the API's root URL (default: FINMATCH_API_URL, FINMATCH_PAYSCORE_BASE_URL)")
    parser.add_argument("--page-size", type=int, help="records per request (default: the source's setting)")
    parser.add_argument("--rows", type=int, default=5, help="sample rows to print (default: 5)")
    parser.add_argument("--yes", action="store_true", help="reset without asking")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%b %d, %Y %I:%M:%S %p"))
    root = logging.getLogger("finmatch")
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return _run(args, os.environ)
    except (SettingsError, MaskingKeyError, ExtractionError, duckdb.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)  # engine messages never contain a key
        return EXIT_FAILED
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = Settings.from_env()
    resource = build_resource(args.source, settings, environ, args.base_url, args.page_size)
    source = resource.declaration()
    db = (args.db or settings.data_dir / "debug" / f"{args.source}.duckdb").resolve()
    if db == settings.warehouse_path.resolve():
        raise SettingsError(f"{db} is the platform's warehouse: pass a debug file of its own with --db")
    masking_key = optional_secret(KEY_ENV_VAR, environ)  # a short key fails now, before anything is deleted
    if masking_key:
        key_id(masking_key)
    policy = load_policy()
    print(f"✓ Detected table name: {source.table}\n{RULE}\n{'FinMatch Connector Debug & Reset':^59}\n{RULE}\n")
    log_dir, files = debug_files(db, source.name)
    print(f"This will delete {db} and the checkpoint log of {source.name} in {log_dir}.")
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: no terminal to confirm the reset on: pass --yes to reset without asking", file=sys.stderr)
            return EXIT_USAGE
        try:
            answer = input("Do you want to continue? (y/N): ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Aborted: nothing deleted.")
            return EXIT_FAILED
    print("\nStep 1: Resetting the debug file...")
    for path in files:
        path.unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    print(f"✓ Reset successful\n\nStep 2: Syncing {source.name} from {resource.resolved_base_url()} (debug mode)...")
    if masking_key is None:
        print(f"{KEY_ENV_VAR} is not set: PII columns and quarantine payloads are shown [REDACTED].")
    show = value_masker(policy, source.table, masking_key)
    with duckdb.connect(str(db)) as conn:
        with resource.client(client_cls=_LoggingClient) as client:
            summary = sync_source(
                conn,
                source,
                resource.pager(client),
                log_dir=log_dir,
                checkpoint_every=resource.checkpoint_every,
                merge_every=resource.merge_every,
                mask=quarantine_masker(policy, source.table, masking_key),
                on_checkpoint=lambda progress: log.info("Checkpoint saved after %d records", progress.records),
            )
        log.info("No more pages to fetch")
        for kind, names in (("new", summary.new_columns), ("widened", summary.widened_columns)):
            if names:
                print(f"[SchemaChange] {kind} columns in raw.{source.table}: {', '.join(names)}")
        print("\n✓ Debug completed\n\nStep 3: Querying sample data from DuckDB...")
        query = f"select * from {RAW_SCHEMA}.{source.table} limit {max(args.rows, 0)}"
        print(f"Running query: {query};  (PII columns masked)\n")
        if table_exists(conn, RAW_SCHEMA, source.table):
            cursor = conn.execute(query)
            sample = masked_sample([d[0] for d in cursor.description], cursor.fetchall(), show)
            with duckdb.connect() as scratch:  # DuckDB's own box rendering, off the debug file
                print(scratch.from_df(sample))
        state = read_state(conn, source.name)
    print(summary_table(operation_counts(summary)))
    print(f"  raw.{source.table}: {summary.rows_in_table} rows from {summary.requests} requests\n")
    print("✓ Debug and reset operations completed.")
    print(f"Next sync state: {json.dumps({'stream': source.name, 'position': state.cursor if state else None})}")
    return EXIT_OK
