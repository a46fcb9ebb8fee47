"""The gate a load goes through: check raw -> quarantine blocking failures -> mask."""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from finmatch_platform.lib.masking import MaskingStats, Policy, build_masked_table, hmac_params
from finmatch_platform.lib.quality.quarantining import QuarantineResult, quarantine_failures
from finmatch_platform.lib.quality.rule_sets import CUSTOMER_RULES, FPR_RULES
from finmatch_platform.lib.quality.rules import RuleSet
from finmatch_platform.lib.quality.run import RuleResult, results_markdown, run_rules


@dataclass(frozen=True)
class GateOutcome:
    results: tuple[RuleResult, ...]
    quarantine: QuarantineResult
    masking: MaskingStats
    seconds: float

    @property
    def blocking_failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.blocking and not r.passed)

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if not r.blocking and not r.passed)

    def as_metadata(self) -> dict[str, object]:
        return {
            **self.masking.as_metadata(),
            **self.quarantine.as_metadata(),
            "rules_checked": len(self.results),
            "blocking_rules_failed": ", ".join(r.rule for r in self.blocking_failures) or "-",
            "warning_rules_failed": ", ".join(r.rule for r in self.warnings) or "-",
            "rule_results": results_markdown(self.results),
            "gate_seconds": round(self.seconds, 3),
        }


def gate_and_mask(
    conn: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    policy: Policy,
    key: str | bytes | None,
    load_id: str | None = None,
) -> GateOutcome:
    """The order a load must follow: run the rules on raw, quarantine blocking failures, then
    build the masked table (and its role variants) without the quarantined versions."""
    started = time.perf_counter()
    hmac_params(key)  # a missing key fails before any work
    results = run_rules(conn, rules)
    quarantine = quarantine_failures(conn, rules, policy, key, load_id, results=results)
    masking = build_masked_table(conn, policy, rules.policy_table, key)
    return GateOutcome(tuple(results), quarantine, masking, time.perf_counter() - started)


def gate_and_mask_customers(
    conn: duckdb.DuckDBPyConnection, policy: Policy, key: str | bytes | None, load_id: str | None = None
) -> GateOutcome:
    return gate_and_mask(conn, CUSTOMER_RULES, policy, key, load_id)


def gate_and_mask_fpr(
    conn: duckdb.DuckDBPyConnection, policy: Policy, key: str | bytes | None, load_id: str | None = None
) -> GateOutcome:
    return gate_and_mask(conn, FPR_RULES, policy, key, load_id)
