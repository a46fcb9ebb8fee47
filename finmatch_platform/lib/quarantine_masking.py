"""Quarantine payloads masked with the policy, for records that never reached a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finmatch_platform.lib.connectors.columns import as_text
from finmatch_platform.lib.masking import Policy, policy_token


def payload_masker(policy: Policy, key: str | bytes | None, table: str) -> Callable[[Any], Any]:
    """Masks a record the extraction refused, before it is written as a quarantine payload.

    Fields are matched to the policy's columns ignoring case (a refused record may spell a name
    differently); a tagged field becomes its token, whatever its shape. A field the policy does
    not know is redacted unless the table passes unknown columns through, and a record that is
    not an object is redacted whole: nothing unvetted leaves the raw layer.
    """
    table_policy = policy.table(table)
    columns = {name.lower(): name for name in table_policy.columns}
    keep_unknown = table_policy.unknown_columns == "pass"

    def mask(record: Any) -> Any:
        if not isinstance(record, dict):
            return policy.redact_text
        masked: dict[str, Any] = {}
        for name, value in record.items():
            column = columns.get(str(name).lower())
            if value is None or (column is None and keep_unknown):
                masked[name] = value
            elif column is None:
                masked[name] = policy.redact_text
            else:
                tag = policy.governing_tag(table, column)
                text = as_text(value)
                masked[name] = value if tag is None else policy_token(policy, key, tag.name, text)
        return masked

    return mask
