"""The offline narrator: a deterministic writer of the report from the evidence, no network.

It is the ``offline`` LLM provider: the same evidence in gives the same text out, every number
is a figure of the evidence written by ``evidence.format_value`` and followed by its citation
(``14.9% [F03]``), so an offline report always passes grounding. A sentence whose figures are
missing (a band with no customers in a small warehouse) is left out rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .evidence import Evidence, Figure, cite
from .steps import FOCUS_AREAS
from .strategic_recommendations import LEVERS

OFFLINE_MODEL = "offline"


class _Writer:
    """Builds Markdown sentence by sentence; a sentence needing a missing figure is skipped."""

    def __init__(self, evidence: Evidence) -> None:
        self.ev = evidence
        self.lines: list[str] = []

    def f(self, key: str) -> Figure | None:
        figure = self.ev.find(key)
        return figure if figure is not None and figure.value is not None else None

    def c(self, key: str) -> str | None:
        figure = self.f(key)
        return cite(figure) if figure else None

    def heading(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines += [f"## {text}", ""]

    def say(self, template: str, **keys: str) -> bool:
        """Write ``template`` with each ``{name}`` replaced by the cited figure ``keys[name]``."""
        values = {}
        for name, key in keys.items():
            text = self.c(key)
            if text is None:
                return False
            values[name] = text
        self.lines.append(template.format(**values))
        return True

    def bullet(self, template: str, **keys: str) -> bool:
        return self.say("- " + template, **keys)

    def text(self) -> str:
        return "\n".join(self.lines).strip() + "\n"


def _ctx(ev: Evidence, name: str, default: str = "") -> str:
    value = ev.context.get(name)
    return str(value) if value not in (None, "") else default


# --------------------------------------------------------------------------------------------
# Shared paragraphs
# --------------------------------------------------------------------------------------------


def _window(w: _Writer) -> None:
    ev = w.ev
    w.say(
        f"The data covers {{days}} days of activity, {_ctx(ev, 'first_day')} to {_ctx(ev, 'last_day')}: "
        "{customers} customers, {transactions} transactions worth {spend}.",
        days="context.activity_days",
        customers="context.customers",
        transactions="context.transactions",
        spend="context.spend_amount",
    )


def _churn_effect(w: _Writer) -> None:
    w.bullet(
        "**Churn rises as satisfaction falls.** Customers with low satisfaction (4 or below) average a churn "
        "probability of {low}, against {high} for customers with high satisfaction (7 or above): "
        "{gap} higher, {ratio} as likely to leave.",
        low="churn.avg.low_satisfaction",
        high="churn.avg.high_satisfaction",
        gap="churn.gap_low_vs_high_satisfaction",
        ratio="churn.ratio_low_vs_high_satisfaction",
    )
    w.bullet(
        "The middle band sits in between at {medium}; across {n} customers, satisfaction and churn "
        "probability correlate at {corr}.",
        medium="churn.avg.medium_satisfaction",
        n="churn.satisfaction_customers",
        corr="churn.satisfaction_correlation",
    )


def _travel_effect(w: _Writer) -> None:
    w.bullet(
        "**High travel spenders accept credit-card offers more often.** Customers who put 20% or more of "
        "their spend on travel accepted {high} of {high_n} card offers, against {low} of {low_n} offers for "
        "customers under 5%: {lift} the rate, a gap of {gap}.",
        high="cards.acceptance.high_travel",
        high_n="cards.offers.high_travel",
        low="cards.acceptance.low_travel",
        low_n="cards.offers.low_travel",
        lift="cards.acceptance_lift_high_vs_low_travel",
        gap="cards.acceptance_gap_high_vs_low_travel",
    )
    w.bullet(
        "Customers in between (5% to under 20% on travel) accept {medium}.",
        medium="cards.acceptance.medium_travel",
    )


def _fraud_effect(w: _Writer) -> None:
    w.bullet(
        "**Fraud comes in bursts of impossible travel.** {days} customer-days had payments further apart "
        "than anyone could travel in between ({payments} payments); {after} of those days followed a burst "
        "of failed logins.",
        days="fraud.impossible_travel_days",
        payments="fraud.impossible_travel_transactions",
        after="fraud.impossible_travel_with_failed_logins",
    )
    w.bullet(
        "Alerts were raised on {alerts} customer-days, covering {amount} of flagged payments; "
        "impossible-travel bursts alone account for {it_amount}.",
        alerts="fraud.alert_days",
        amount="fraud.alerted_amount",
        it_amount="fraud.impossible_travel_amount",
    )


def _funnel(w: _Writer) -> None:
    stage = _ctx(w.ev, "largest_funnel_drop_stage")
    w.bullet(
        "In the campaign funnel {explored} of reached recommendations were explored and {onboarded} ended onboarded.",
        explored="funnel.conversion.Explored",
        onboarded="funnel.onboarded_rate",
    )
    if stage:
        w.bullet(
            f"The weakest step is the move into *{stage}*: only {{conv}} of recommendations make it.",
            conv="funnel.largest_drop_conversion",
        )


def _extremes(w: _Writer, dimension: str, label: str) -> None:
    best, worst = _ctx(w.ev, f"best_{dimension}"), _ctx(w.ev, f"worst_{dimension}")
    if not best or best == worst:
        return
    w.bullet(
        f"By {label}, *{best}* accepts most ({{best}}) and *{worst}* least ({{worst}}).",
        best=f"{dimension}.acceptance_rate.{best}",
        worst=f"{dimension}.acceptance_rate.{worst}",
    )


def _attention(w: _Writer) -> None:
    w.bullet(
        "{n} customers ({share} of those with a health score) are on the needs-attention list: average "
        "churn probability {churn}, holding {balance} in savings and current accounts and spending {spend} "
        "in the last 30 days.",
        n="retention.needs_attention",
        share="retention.needs_attention_share",
        churn="retention.needs_attention_avg_churn",
        balance="retention.needs_attention_balance",
        spend="retention.needs_attention_spend_30d",
    )


# --------------------------------------------------------------------------------------------
# The four reports
# --------------------------------------------------------------------------------------------


def _overall(w: _Writer) -> None:
    w.heading("Summary")
    _window(w)
    w.say(
        "Of {recs} live recommendations, {rate} were accepted, booking {sales} of sales; "
        "average churn probability stands at {churn}.",
        recs="rec.recommendations",
        rate="rec.acceptance_rate",
        sales="rec.sales_amount",
        churn="rec.avg_churn",
    )

    w.heading("Recommendation performance")
    w.bullet(
        "Status mix: {acc} accepted, {rej} rejected, {exp} expired.",
        acc="status.share.Accepted",
        rej="status.share.Rejected",
        exp="status.share.Expired",
    )
    w.bullet(
        "Still open: {rec} recommended and {viewed} viewed but not yet decided.",
        rec="status.share.Recommended",
        viewed="status.share.Viewed",
    )
    _funnel(w)
    w.bullet(
        "The average recommendation score is {score} and the average satisfaction score {sat}.",
        score="rec.avg_score",
        sat="rec.avg_satisfaction",
    )

    w.heading("Patterns across segments, products and lifecycle stages")
    _extremes(w, "segment", "segment")
    _extremes(w, "product_type", "product type")
    _extremes(w, "lifecycle_stage", "lifecycle stage")
    w.bullet(
        "Recommendations go mostly to *Mature* ({mature}) and *Growing* ({growing}) customers; "
        "*At Risk* customers get {at_risk}.",
        mature="lifecycle_stage.share.Mature",
        growing="lifecycle_stage.share.Growing",
        at_risk="lifecycle_stage.share.At Risk",
    )

    w.heading("Customer health, spend and fraud")
    _churn_effect(w)
    w.bullet(
        "Health bands: {healthy} of scored customers are *Healthy*, {watch} on *Watch* and {critical} *Critical*.",
        healthy="health.share.Healthy",
        watch="health.share.Watch",
        critical="health.share.Critical",
    )
    week = _ctx(w.ev, "latest_complete_week")
    if week:
        w.bullet(
            f"Spend in the latest complete week (from {week}) was {{spend}}, a change of {{wow}} on the week before.",
            spend="spend.latest_week",
            wow="spend.week_on_week",
        )
    w.bullet("Travel takes {travel} of all spend.", travel="spend.share.Travel")
    _fraud_effect(w)


def _optimization(w: _Writer) -> None:
    stage = _ctx(w.ev, "largest_funnel_drop_stage", "the weakest funnel step")
    w.heading("Summary")
    _window(w)
    w.say(
        f"Three places to act: the move into *{stage}* in the funnel, credit-card offers to travel spenders "
        "({top} top prospects have no card yet), and the {attention} customers who need attention.",
        top="cards.top_prospects",
        attention="retention.needs_attention",
    )

    w.heading("Where conversion leaks")
    w.bullet(
        "Overall, {rate} of {recs} live recommendations are accepted.",
        rate="rec.acceptance_rate",
        recs="rec.recommendations",
    )
    _funnel(w)
    best, worst = _ctx(w.ev, "best_archetype"), _ctx(w.ev, "worst_archetype")
    if best and best != worst:
        w.bullet(
            f"By campaign archetype, *{best}* accepts {{best}} while *{worst}* accepts only {{worst}}.",
            best=f"archetype.acceptance_rate.{best}",
            worst=f"archetype.acceptance_rate.{worst}",
        )
    _extremes(w, "product_type", "product type")

    w.heading("Cross-sell: credit cards for travel spenders")
    _travel_effect(w)
    w.bullet(
        "{top} customers without a card sit in the top two propensity deciles, with an average propensity "
        "of {prop}; travel is {travel} of their spend against {other} for the rest of the ranking.",
        top="cards.top_prospects",
        prop="cards.top_prospect_propensity",
        travel="cards.top_prospect_travel_share",
        other="cards.other_travel_share",
    )

    w.heading("Retention")
    _churn_effect(w)
    _attention(w)
    w.bullet(
        "{n} customers are at high churn risk and account for {share} of 30-day spend ({spend}).",
        n="retention.high_churn_risk_customers",
        share="retention.high_churn_risk_spend_share",
        spend="retention.high_churn_risk_spend_30d",
    )
    w.bullet(
        "Customers already *At Risk* accept just {at_risk} of their recommendations.",
        at_risk="lifecycle_stage.acceptance_rate.At Risk",
    )

    w.heading("Where to act first")
    w.lines.append(
        "1. Offer the travel credit card to the top prospects with the highest travel share first; they accept "
        "far more often than other customers."
    )
    w.lines.append(
        "2. Work the needs-attention list in rank order with a service call before any new offer: satisfaction "
        "is what moves churn."
    )
    w.lines.append(f"3. Review the *{stage}* step of the funnel, where the most recommendations are lost.")


def _financial(w: _Writer) -> None:
    w.heading("Summary")
    _window(w)
    w.say(
        "Revenue over the window is {total}, {interest_share} of it loan interest; accepted recommendations "
        "booked {sales} of sales.",
        total="revenue.total",
        interest_share="revenue.loan_interest_share",
        sales="rec.sales_amount",
    )

    w.heading("Revenue")
    w.bullet(
        "Interchange fees bring {interchange} ({per_day} per day of activity) and loan interest {interest}.",
        interchange="revenue.interchange",
        per_day="revenue.interchange_per_day",
        interest="revenue.loan_interest",
    )
    month = _ctx(w.ev, "latest_revenue_month")
    if month:
        w.bullet(
            f"The latest month ({month}) shows {{latest}} so far; its interchange covers only the days loaded.",
            latest="revenue.latest_month",
        )
    w.bullet(
        "Loan products earn {loan} of revenue and credit cards {card}.",
        loan="revenue.share.Loan",
        card="revenue.share.Credit Card",
    )

    w.heading("Sales from recommendations")
    for product_type in ("Loan", "Credit Card", "Investment", "Deposit", "Insurance"):
        w.bullet(
            f"*{product_type}*: {{amount}} of sales, {{avg}} per sale.",
            amount=f"sales.amount.{product_type}",
            avg=f"sales.avg_sale.{product_type}",
        )
    top = _ctx(w.ev, "top_sales_archetype")
    if top:
        w.bullet(f"The *{top}* archetype books the most: {{amount}}.", amount=f"archetype.sales_amount.{top}")

    w.heading("Value at stake")
    _travel_effect(w)
    w.bullet(
        "Cross-sell: one travel-card offer to each of the {top} top prospects would, at the travel spenders' "
        "acceptance rate, bring about {cards} new cards worth {value} in card sales.",
        top="cards.top_prospects",
        cards="value.cross_sell_expected_cards",
        value="value.cross_sell",
    )
    _churn_effect(w)
    w.bullet(
        "Retention: the {n} customers needing attention hold {balance} and spent {spend} in the last 30 days; "
        "customers at high churn risk spent {risk_spend}.",
        n="retention.needs_attention",
        balance="retention.needs_attention_balance",
        spend="retention.needs_attention_spend_30d",
        risk_spend="retention.high_churn_risk_spend_30d",
    )
    _fraud_effect(w)
    w.bullet(
        "Conversion: with an average sale of {avg}, each extra percentage point of acceptance is worth {value}.",
        avg="value.avg_sale",
        value="value.per_acceptance_point",
    )


_LEVER_TEXT: Mapping[str, tuple[str, dict[str, str], str]] = {
    "cross_sell": (
        "Travel spenders accept card offers at {high} against {low} for non-travellers ({lift}); "
        "{top} top prospects have no card yet.",
        {
            "high": "cards.acceptance.high_travel",
            "low": "cards.acceptance.low_travel",
            "lift": "cards.acceptance_lift_high_vs_low_travel",
            "top": "cards.top_prospects",
        },
        "Send the travel credit-card offer to the top prospects in order of travel share, and measure "
        "acceptance against the low-travel baseline.",
    ),
    "retention": (
        "Churn probability is {low} at low satisfaction against {high} at high satisfaction; {n} customers "
        "need attention.",
        {
            "low": "churn.avg.low_satisfaction",
            "high": "churn.avg.high_satisfaction",
            "n": "retention.needs_attention",
        },
        "Work the needs-attention list in rank order with a service call that fixes the cause of "
        "dissatisfaction before any sales offer.",
    ),
    "fraud": (
        "{days} customer-days showed impossible travel and {after} of them followed a failed-login burst.",
        {"days": "fraud.impossible_travel_days", "after": "fraud.impossible_travel_with_failed_logins"},
        "Step up authentication after a burst of failed logins and hold card payments from a new, distant "
        "city until the customer confirms them.",
    ),
    "conversion": (
        "The weakest funnel step converts {conv}; overall acceptance is {rate}.",
        {"conv": "funnel.largest_drop_conversion", "rate": "rec.acceptance_rate"},
        "Review the offers that stall at the weakest funnel step and copy what works for the best-converting "
        "archetype.",
    ),
}


def _strategic(w: _Writer) -> None:
    priorities = list(w.ev.context.get("priorities") or [])
    w.heading("Summary")
    _window(w)
    w.say(
        "The starting point: {rate} of {recs} recommendations accepted, {revenue} of revenue over the window.",
        rate="rec.acceptance_rate",
        recs="rec.recommendations",
        revenue="revenue.total",
    )
    if priorities:
        w.lines.append(
            f"{len(priorities)} levers are ranked below by the value each puts at stake; "
            f"the first is to {priorities[0]['title'][0].lower() + priorities[0]['title'][1:]}."
        )

    w.heading("Recommendations, in priority order")
    levers = {lever: (title, reach_key, reach_label) for lever, title, _, reach_key, reach_label in LEVERS}
    for item in priorities:
        lever, figure_key = item["lever"], item["figure"]
        value = w.c(figure_key)
        figure = w.f(figure_key)
        if value is None or figure is None:
            continue
        title, reach_key, reach_label = levers[lever]
        reach, per_head = w.c(reach_key), w.c(f"priority.{lever}.value_per_reach")
        scope = f", across {reach} {reach_label} ({per_head} each)" if reach and per_head else ""
        w.lines.append(f"{item['rank']}. **{title}**: {figure.label.lower()} {value}{scope}.")
        template, keys, action = _LEVER_TEXT[lever]
        w.say("   - Why: " + template, **keys)
        w.lines.append(f"   - Next: {action}")

    w.heading("Evidence behind the levers")
    _travel_effect(w)
    _churn_effect(w)
    _fraud_effect(w)
    _funnel(w)
    best, worst = _ctx(w.ev, "best_archetype"), _ctx(w.ev, "worst_archetype")
    if best and best != worst:
        w.bullet(
            f"Archetype *{best}* accepts {{best}}, *{worst}* {{worst}}.",
            best=f"archetype.acceptance_rate.{best}",
            worst=f"archetype.acceptance_rate.{worst}",
        )

    w.heading("How to tell it worked")
    w.bullet(
        "Acceptance rate above today's {rate}, average churn probability below {churn}, and less than {fraud} "
        "on fraud alerts over a comparable window.",
        rate="rec.acceptance_rate",
        churn="rec.avg_churn",
        fraud="fraud.alerted_amount",
    )


_WRITERS: dict[str, Callable[[_Writer], None]] = {
    "overall_performance": _overall,
    "optimization_opportunities": _optimization,
    "financial_impact": _financial,
    "strategic_recommendations": _strategic,
}


def narrate(focus_key: str, evidence: Evidence) -> str:
    """The offline narrative of a focus area, in Markdown."""
    if focus_key not in FOCUS_AREAS:
        raise KeyError(f"unknown focus area {focus_key!r}; expected one of {sorted(FOCUS_AREAS)}")
    writer = _Writer(evidence)
    _WRITERS[focus_key](writer)
    return writer.text()


def narrate_request(context: Any) -> str:
    """The offline provider's entry: ``context`` is what ``prompts.build_request`` attached."""
    if not isinstance(context, Mapping) or "focus" not in context or "evidence" not in context:
        raise ValueError("the offline narrator needs the request's context: {'focus': key, 'evidence': Evidence}")
    evidence = context["evidence"]
    if not isinstance(evidence, Evidence):
        evidence = Evidence.from_dict(evidence)
    return narrate(str(context["focus"]), evidence)
