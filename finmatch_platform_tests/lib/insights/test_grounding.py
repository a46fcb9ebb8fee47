"""Grounding: reading numbers out of a narrative and tracing each one to the evidence."""

from __future__ import annotations

import pytest

from finmatch_platform.lib.insights.evidence import Chart, Evidence, format_value
from finmatch_platform.lib.insights.grounding import UNVERIFIED_MARK, annotate, extract_numbers, ground


def _evidence() -> Evidence:
    ev = Evidence()
    ev.add(
        "rec.acceptance_rate",
        "Acceptance rate",
        0.149154,
        "share",
        "Accepted / live.",
        sample_size=2246,
        source="marts.recommendation_kpis",
    )
    ev.add(
        "rec.recommendations",
        "Live recommendations",
        2246,
        "count",
        "Live recs.",
        sample_size=2246,
        source="marts.recommendation_kpis",
    )
    ev.add(
        "rec.sales_amount",
        "Sales",
        262_031_803.2,
        "inr",
        "Sales (INR).",
        sample_size=335,
        source="marts.recommendation_kpis",
    )
    ev.add("revenue.interchange", "Interchange", 84_907.54, "inr", "Fees (INR).", sample_size=2, source="marts.revenue")
    ev.add("cards.lift", "Lift", 4.012, "ratio", "High / low.", sample_size=610, source="marts.x")
    ev.add(
        "churn.gap",
        "Gap",
        0.6548,
        "pp",
        "Low minus high.",
        sample_size=200,
        source="marts.recommendation_customer_health",
    )
    ev.add(
        "cards.acceptance.high_travel",
        "High travel acceptance",
        0.2397,
        "share",
        "Accepted / offers to customers with 20% or more of spend on Travel, churn probability 0.6 or more, last 30 days.",
        sample_size=242,
        source="marts.x",
    )
    ev.add(
        "churn.corr",
        "Correlation",
        -0.908,
        "number",
        "Pearson.",
        sample_size=414,
        source="marts.recommendation_customer_health",
    )
    ev.add_chart(
        Chart(
            "weekly",
            "Weekly spend",
            "line",
            "inr",
            ("w1", "w2"),
            (("spend", (4_139_970.93, 4_313_700.0)),),
            source="marts.s",
        )
    )
    return ev


def _statuses(text: str) -> dict[str, str]:
    return {m.text: m.status for m in ground(text, _evidence()).mentions}


def test_numbers_are_read_with_their_units_and_thousands_separators() -> None:
    mentions, _ = extract_numbers(
        "14.9% of 2,246 offers, ₹26.20 Cr, INR 12,34,567, Rs. 4.5 lakh, 3.9×, 21.3 pp, 1.2M, 45K"
    )
    read = {m.text: (m.kind, round(m.value, 6)) for m in mentions}
    assert read == {
        "14.9%": ("percent", 0.149),
        "2,246": ("plain", 2246.0),
        "₹26.20 Cr": ("currency", 262_000_000.0),
        "INR 12,34,567": ("currency", 1_234_567.0),
        "Rs. 4.5 lakh": ("currency", 450_000.0),
        "3.9×": ("multiple", 3.9),
        "21.3 pp": ("pp", 0.213),
        "1.2M": ("plain", 1_200_000.0),
        "45K": ("plain", 45_000.0),
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("since 2026-10-01", "date"),
        ("in October 2026", "date"),
        ("on 5 Nov", "date"),
        ("at 10:30", "time"),
        ("the year 2025 was", "year"),
        ("the 2nd week", "ordinal"),
        ("1. First point", "list_marker"),
        ("## 2. Heading", "list_marker"),
        ("Step 3 of 6 ran", "step_number"),
        ("quoted [F07] here", "citation"),
        ("product P0001 and Q3", "identifier"),
        ("the top 3 levers", "small_integer"),
    ],
)
def test_dates_years_ordinals_list_and_step_numbers_are_not_checked(text: str, reason: str) -> None:
    mentions, ignored = extract_numbers(text)
    assert mentions == []
    assert reason in {i.reason for i in ignored}


def test_a_number_written_to_its_precision_matches_the_figure_it_rounds() -> None:
    statuses = _statuses(
        "Acceptance 14.9% (or 15%) on 2,246 offers; sales ₹26.20 Cr (about ₹26 Cr, 262 million); "
        "lift 4.0× (4 times); gap 65.5 pp; correlation -0.91; interchange ₹84,908."
    )
    assert set(statuses.values()) == {"verified"}, statuses


def test_a_truncated_figure_still_matches() -> None:
    # 14.9154% written as 14.91% (rounded) and as 14.9% (rounded) both match; 0.2397 as 23.9% (truncated).
    assert set(_statuses("14.91% and 23.9% and 14.9%").values()) == {"verified"}


def test_a_number_off_by_more_than_its_rounding_is_unverified() -> None:
    statuses = _statuses("Acceptance 14.7% on 2,250 offers; sales ₹27.20 Cr.")
    assert statuses == {"14.7%": "unverified", "2,250": "unverified", "₹27.20 Cr": "unverified"}


def test_units_must_agree_a_percentage_does_not_match_a_count() -> None:
    # 2,246 is a count: "2,246%" is not the same claim.
    assert _statuses("2,246%") == {"2,246%": "unverified"}
    # A multiple only matches ratios: the share 0.149 is not "0.149×".
    assert _statuses("0.149×") == {"0.149×": "unverified"}


def test_sample_sizes_and_chart_values_are_evidence_too() -> None:
    statuses = {m.text: m.matched for m in ground("across 414 customers; ₹41.40 lakh in a week", _evidence()).mentions}
    assert statuses["414"].endswith("(n)")
    assert statuses["₹41.40 lakh"] == "chart:weekly"


def test_thresholds_quoted_from_definitions_are_constants() -> None:
    result = ground(
        "customers with 20% or more of spend on travel, churn probability 0.6, the last 30 days", _evidence()
    )
    assert {m.text: m.status for m in result.mentions} == {"20%": "constant", "0.6": "constant", "30": "constant"}


def test_a_sign_is_ignored_because_direction_is_in_the_words() -> None:
    assert set(_statuses("correlation −0.91, a fall of -65.5 pp").values()) == {"verified"}


def test_an_altered_number_is_caught_and_marked_in_the_text() -> None:
    ev = _evidence()
    original = f"Acceptance is {format_value(0.149154, 'share')} [F01] on 2,246 [F02] offers."
    assert ground(original, ev).unverified == ()
    altered = original.replace("14.9%", "41.9%")
    result = ground(altered, ev)
    assert [m.text for m in result.unverified] == ["41.9%"]
    assert result.unverified_share == pytest.approx(0.5)
    assert not result.passed(0.05)
    assert result.passed(0.5)
    marked = annotate(altered, result)
    assert f"41.9% {UNVERIFIED_MARK} [F01]" in marked
    assert marked.count(UNVERIFIED_MARK) == 1


def test_a_narrative_without_numbers_passes_with_nothing_checked() -> None:
    result = ground("Acceptance is healthy and churn is low.", _evidence())
    assert result.checked == 0 and result.passed(0.0)


def test_format_value_writes_each_unit_the_way_grounding_reads_it() -> None:
    ev = _evidence()
    for figure in ev.figures:
        result = ground(f"value {figure.display} here", ev)
        assert result.unverified == (), (figure.key, figure.display)
    assert format_value(0.14915, "share") == "14.9%"
    assert format_value(0.1495, "share") == "15.0%"  # half up, not banker's
    assert format_value(262_031_803.2, "inr") == "₹26.20 Cr"
    assert format_value(495_068.58, "inr") == "₹4.95 lakh"
    assert format_value(84_907.54, "inr") == "₹84,908"
    assert format_value(-0.0321, "pp") == "3.2 pp"
    assert format_value(None, "count") == "n/a"
