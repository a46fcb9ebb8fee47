"""Insight-report fixtures: a small seeded warehouse with real marts, and a stand-in LLM server.

The warehouse is built once per session the way production builds it: the real generator lands
a month of days, ``raw_load.load_window`` loads every entity (the FPR feed too, straight from
the landing zone, which is what the extraction would upsert), the masking library writes
``masked.*``, and ``dbt build`` builds every mart the reports read (and their parents and
tests) into it. Tests that write (history rows) work on a copy: ``insights_warehouse_copy``.

The stand-in server speaks the OpenAI chat-completions protocol on loopback
(``POST /v1/chat/completions``). Its behaviour is chosen by the ``model`` of the request, so one
server backs several named endpoints at once:

- ``stand-in-grounded``: a short narrative quoting figures from the prompt's evidence table;
- ``stand-in-invented``: the same plus one invented figure (``INVENTED_FIGURE``);
- ``stand-in-slow``: answers after ``SLOW_SECONDS`` (longer than the test endpoints' timeout);
- ``stand-in-error``: HTTP 500 with an OpenAI-style error body;
- ``stand-in-flaky``: HTTP 503 on the first request, then like ``stand-in-grounded``;
- ``stand-in-empty``: HTTP 200 whose body is not a chat completion.

Every request needs ``Authorization: Bearer <STAND_IN_KEY>`` (401 otherwise) and is recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from finmatch_platform.landing_zone.schemas import ENTITIES
from finmatch_platform.lib import masking
from finmatch_platform.lib.insights.steps import FOCUS_AREAS
from finmatch_platform.lib.raw_load import load_window
from finmatch_platform.settings import PROJECT_ROOT
from finmatch_platform.simulator.generation import GenerationConfig, days_between, write_day

# The dbt project and the variable its profile reads the warehouse path from (dbt/profiles.yml).
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
WAREHOUSE_PATH_ENV = "FINMATCH_WAREHOUSE_PATH"

INSIGHTS_SEED = 20261001
INSIGHTS_START = dt.date(2026, 10, 1)
INSIGHTS_DAYS = 30
INSIGHTS_CUSTOMERS = 300
MASKING_KEY = "insights-test-masking-key-0123456789"

STAND_IN_KEY = "sk-stand-in-0123456789abcdef"
STAND_IN_KEY_ENV = "FINMATCH_LLM_TEST_STAND_IN_KEY"
INVENTED_FIGURE = "83.17%"
SLOW_SECONDS = 2.0


@dataclass(frozen=True)
class InsightsWarehouse:
    path: Path
    config: GenerationConfig
    days: tuple[dt.date, ...]
    landing: Path


def _dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def build_insights_warehouse(root: Path) -> InsightsWarehouse:
    """Generate, load, mask and dbt-build a small warehouse under ``root``."""
    config = GenerationConfig(
        seed=INSIGHTS_SEED,
        start_date=INSIGHTS_START,
        customers=INSIGHTS_CUSTOMERS,
        daily_new_customers=2,
        # No planted KYC defects: the quality gate is not part of this build, so every
        # customer reaches the marts and the tests' independent figures see the same book.
        defect_rate=0.0,
    )
    days = days_between(INSIGHTS_START, INSIGHTS_START + dt.timedelta(days=INSIGHTS_DAYS - 1))
    landing = root / "landing"
    for day in days:
        write_day(config, landing, day)
    path = root / "warehouse" / "finmatch.duckdb"
    path.parent.mkdir(parents=True)
    conn = duckdb.connect(str(path))
    try:
        for schema in ("raw", "meta", "masked"):
            conn.execute(f"create schema if not exists {schema}")
        for entity in ENTITIES:
            load_window(conn, landing, entity, days)
        policy = masking.load_policy()
        masking.build_masked_customers(conn, policy, MASKING_KEY)
        masking.build_masked_fpr(conn, policy, MASKING_KEY)
    finally:
        conn.close()
    marts = sorted({table for focus in FOCUS_AREAS.values() for table in focus.tables})
    command = [
        _dbt_executable(),
        "build",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        # Our own target and log folders: the project's target/ belongs to the running code location.
        "--target-path",
        str(root / "dbt_target"),
        "--log-path",
        str(root / "dbt_logs"),
        "--select",
        *(f"+{m}" for m in marts),
    ]
    env = {**os.environ, WAREHOUSE_PATH_ENV: str(path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=DBT_PROJECT_DIR)
    if done.returncode != 0:
        raise RuntimeError(f"dbt build failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
    return InsightsWarehouse(path=path, config=config, days=tuple(days), landing=landing)


@pytest.fixture(scope="session")
def insights_warehouse(tmp_path_factory: pytest.TempPathFactory) -> InsightsWarehouse:
    """The session's seeded warehouse with marts. Read it; copy it before writing."""
    return build_insights_warehouse(tmp_path_factory.mktemp("insights"))


@pytest.fixture()
def insights_warehouse_copy(insights_warehouse: InsightsWarehouse, tmp_path: Path) -> Path:
    """A private copy of the warehouse file for a test that writes (history rows)."""
    target = tmp_path / "warehouse" / "finmatch.duckdb"
    target.parent.mkdir(parents=True)
    shutil.copyfile(insights_warehouse.path, target)
    return target


# --------------------------------------------------------------------------------------------
# The stand-in OpenAI-compatible server
# --------------------------------------------------------------------------------------------


@dataclass
class StandIn:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[str]:
        with self.lock:
            return [r["raw"] for r in self.requests]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.counts.clear()


_FIGURE_LINE = re.compile(r"^(F\d+) \| ([^|]+) \| ([^|]+) \|", re.M)


def _grounded_narrative(prompt: str) -> str:
    """Quote the first few figures of the prompt's evidence table, as a model should."""
    figures = [(ref, label.strip(), value.strip()) for ref, label, value in _FIGURE_LINE.findall(prompt)]
    figures = [f for f in figures if f[2] != "n/a"][:4]
    lines = ["## Summary", ""]
    lines += [f"- {label}: {value} [{ref}]." for ref, label, value in figures]
    return "\n".join(lines) + "\n"


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
            body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client timed out and left
                self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            model = str(body.get("model", ""))
            with state.lock:
                state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body, "raw": raw})
                state.counts[model] = state.counts.get(model, 0) + 1
                count = state.counts[model]
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            if self.headers.get("Authorization") != f"Bearer {STAND_IN_KEY}":
                self._send(401, {"error": {"message": "invalid api key"}})
                return
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            if model == "stand-in-slow":
                time.sleep(SLOW_SECONDS)
            if model == "stand-in-error":
                self._send(500, {"error": {"message": "the model is overloaded"}})
                return
            if model == "stand-in-flaky" and count == 1:
                self._send(503, {"error": {"message": "warming up"}}, {"Retry-After": "0"})
                return
            if model == "stand-in-empty":
                self._send(200, {"object": "list", "data": []})
                return
            text = _grounded_narrative(prompt)
            if model == "stand-in-invented":
                text += f"- Revenue grew {INVENTED_FIGURE} month on month.\n"
            self._send(
                200,
                {
                    "id": f"chatcmpl-{count}",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())},
                },
            )

    return Handler


@pytest.fixture(scope="session")
def llm_stand_in() -> Iterator[StandIn]:
    """A chat-completions server on a free loopback port, for the whole session."""
    state = StandIn(base_url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, name="llm-stand-in", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def stand_in(llm_stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """The stand-in server with its request log cleared and its key in the environment."""
    llm_stand_in.reset()
    monkeypatch.setenv(STAND_IN_KEY_ENV, STAND_IN_KEY)
    return llm_stand_in


# --------------------------------------------------------------------------------------------
# Planted effects, computed independently of the report code (pandas over raw tables)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantedFigures:
    churn_low_satisfaction: float  # mean churn probability, latest read, satisfaction <= 4
    churn_high_satisfaction: float  # satisfaction >= 7
    low_satisfaction_customers: int
    card_acceptance_high_travel: float  # accepted / live card offers, travel share >= 20%
    card_acceptance_low_travel: float  # travel share < 5%
    high_travel_offers: int
    low_travel_offers: int
    planted_fraud_days: frozenset[tuple[str, dt.date]]  # (customer_id, day) of every planted burst
    impossible_travel_days: int  # customer-days with an impossible-travel payment


def _frame(conn: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    cursor = conn.execute(sql)
    return pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])


def planted_figures(warehouse: InsightsWarehouse) -> PlantedFigures:
    """The planted effects' figures, straight from raw data and the generator's ground truth."""
    from finmatch_platform.simulator.generation import fraud_bursts

    conn = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        fpr = _frame(conn, "select * from raw.fpr_records")
        transactions = _frame(conn, "select customer_id, amount, reason from raw.transactions")
        suspicious = _frame(
            conn,
            "select customer_id, transaction_date from marts.fraud_transaction_risk_signals where is_impossible_travel",
        )
    finally:
        conn.close()

    # The live state of each recommendation: its latest version, tombstones dropped.
    latest = fpr.sort_values(["record_id", "updated_at"]).groupby("record_id").tail(1)
    live = latest[~latest["_deleted"].fillna(False).astype(bool)]

    # Churn against satisfaction: each customer's latest read by the FPR engine.
    per_customer = (
        live.sort_values(["customer_id", "product_recommendation_date", "updated_at", "record_id"])
        .groupby("customer_id")
        .tail(1)
    )
    per_customer = per_customer.dropna(subset=["customer_satisfaction_score", "customer_churn_probability"])
    low = per_customer[per_customer["customer_satisfaction_score"] <= 4]
    high = per_customer[per_customer["customer_satisfaction_score"] >= 7]

    # Card acceptance against the share of spend on travel.
    totals = transactions.groupby("customer_id")["amount"].sum()
    travel = transactions[transactions["reason"] == "Travel"].groupby("customer_id")["amount"].sum()
    share = (travel.reindex(totals.index).fillna(0) / totals).rename("travel_share")
    cards = live[live["product_type"] == "Credit Card"].join(share, on="customer_id", how="inner")
    accepted = cards["product_recommendation_status"] == "Accepted"
    high_travel = cards["travel_share"] >= 0.20
    low_travel = cards["travel_share"] < 0.05

    planted = frozenset(
        (str(burst["customer_id"]), day) for day in warehouse.days for burst in fraud_bursts(warehouse.config, day)
    )
    flagged = {(str(c), d if isinstance(d, dt.date) else d.date()) for c, d in suspicious.itertuples(index=False)}
    return PlantedFigures(
        churn_low_satisfaction=float(low["customer_churn_probability"].mean()),
        churn_high_satisfaction=float(high["customer_churn_probability"].mean()),
        low_satisfaction_customers=len(low),
        card_acceptance_high_travel=float(accepted[high_travel].mean()),
        card_acceptance_low_travel=float(accepted[low_travel].mean()),
        high_travel_offers=int(high_travel.sum()),
        low_travel_offers=int(low_travel.sum()),
        planted_fraud_days=planted,
        impossible_travel_days=len(flagged),
    )


@pytest.fixture(scope="session")
def planted_effects(insights_warehouse: InsightsWarehouse) -> PlantedFigures:
    return planted_figures(insights_warehouse)
