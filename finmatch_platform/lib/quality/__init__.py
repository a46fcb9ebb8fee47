"""The bank's validation rules on raw customers and FPR records, and the quarantine they feed.

Format rules (names, email, mobile) only mean something on raw values, since masked values are
tokens, so the rules run on ``raw.*``. Their results never carry a raw value: each rule reports
counts (checked, duplicates, missing, invalid) and at most five offending record KEYS
(customer_id / record_id: surrogate ids, the bank's or the FPR vendor's, never PII). Quarantine
payloads are masked with the default role of the masking policy before they are written.

What blocks
- Blocking rules make a record unusable: a bad or duplicate customer id, a missing or duplicate
  FPR record_id, a customer without a name, a CIBIL score outside 300-900, FPR scores outside
  their ranges. Failing versions go to ``meta.quarantine`` and are left out of ``masked.*`` (the
  masked builders exclude them), so analytics never sees them; the check fails so the run shows it.
- Warning rules flag what a data steward should fix but analytics can live with: name
  characters and length, email and mobile formats, a missing CIBIL check date, values outside an
  enumeration, dates out of order, and the shape of the FPR vendor's ids (record_id, customer_id):
  a vendor owns its ids, so a UUID record_id is news, not a defect. Those records stay in, and
  the asset check warns.

Order for a load (``gate_and_mask``): run the rules on raw -> quarantine blocking failures ->
build the masked table without the quarantined versions.

Modules: ``rules`` (the rule model and builders), ``rule_sets`` (the customer and FPR rules),
``run`` (evaluating a rule set), ``quarantining`` (writing failures to ``meta.quarantine``) and
``gate`` (the order above).
"""

from finmatch_platform.lib.quality.gate import GateOutcome, gate_and_mask, gate_and_mask_customers, gate_and_mask_fpr
from finmatch_platform.lib.quality.quarantining import (
    QuarantineResult,
    default_load_id,
    ensure_quarantine_table,
    quarantine_failures,
)
from finmatch_platform.lib.quality.rule_sets import (
    AFFLUENCE_LEVELS,
    CATEGORIES,
    COUNTRIES,
    CUSTOMER_RULES,
    CUSTOMER_TYPES,
    DIALLING_CODES,
    EMAIL_PATTERN,
    FPR_RULES,
    FPR_STATUSES,
    GENDERS,
    LIFECYCLE_STAGES,
    MARITAL_STATUSES,
    MOBILE_FALLBACK_PATTERN,
    MOBILE_PATTERNS,
    NATIONALITIES,
    OCCUPATIONS,
    PRIVILEGES,
    RISK_CATEGORIES,
    RULE_SETS,
    SEGMENTS,
    SOURCING_CHANNELS,
    STATUSES,
    TITLES,
    TRENDS,
)
from finmatch_platform.lib.quality.rules import (
    BLOCKING,
    MAX_NAME_CHARS,
    NAME_PATTERN,
    WARNING,
    Rule,
    RuleSet,
    accepted_values_rule,
    id_rule,
    name_rule,
    range_rule,
)
from finmatch_platform.lib.quality.run import MISSING_KEY, SAMPLE_KEYS, RuleResult, results_markdown, run_rules

__all__ = [
    "AFFLUENCE_LEVELS",
    "BLOCKING",
    "CATEGORIES",
    "COUNTRIES",
    "CUSTOMER_RULES",
    "CUSTOMER_TYPES",
    "DIALLING_CODES",
    "EMAIL_PATTERN",
    "FPR_RULES",
    "FPR_STATUSES",
    "GENDERS",
    "LIFECYCLE_STAGES",
    "MARITAL_STATUSES",
    "MAX_NAME_CHARS",
    "MISSING_KEY",
    "MOBILE_FALLBACK_PATTERN",
    "MOBILE_PATTERNS",
    "NAME_PATTERN",
    "NATIONALITIES",
    "OCCUPATIONS",
    "PRIVILEGES",
    "RISK_CATEGORIES",
    "RULE_SETS",
    "SAMPLE_KEYS",
    "SEGMENTS",
    "SOURCING_CHANNELS",
    "STATUSES",
    "TITLES",
    "TRENDS",
    "WARNING",
    "GateOutcome",
    "QuarantineResult",
    "Rule",
    "RuleResult",
    "RuleSet",
    "accepted_values_rule",
    "default_load_id",
    "ensure_quarantine_table",
    "gate_and_mask",
    "gate_and_mask_customers",
    "gate_and_mask_fpr",
    "id_rule",
    "name_rule",
    "quarantine_failures",
    "range_rule",
    "results_markdown",
    "run_rules",
]
