-- Every customer who spends with the bank, scored for a credit card from their own transaction
-- history and ranked: the cross-sell team works the list from the top.
--
-- The score is a documented scorecard, not a fitted model (a logistic of points):
--   -3.0
--   + 4.0 x travel share of spend     travellers use cards abroad and for bookings
--   + 1.0 x card share of spend       already pay by card, on a debit card at the bank
--   + 0.5 x ln(1 + monthly spend / 10,000)
--   + 0.8 x (credit score - 700) / 100  bureau headroom for a limit
--   + 0.3 x ln(1 + liquid balance / 100,000)
--   + 0.5 if they transacted in more than one city (they travel)
-- Existing card holders are scored too (an upgrade is a cross-sell) but ranked apart: the
-- prospect rank covers customers without a card.
with

spend as (

    select * from {{ ref('int_customer_spend_profile') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

scored as (

    select
        spend.customer_id,
        customers.segment,
        customers.affluence_level,
        customers.credit_score,
        customers.liquid_balance,
        customers.holds_credit_card,
        spend.transactions,
        spend.total_spend,
        spend.avg_monthly_spend,
        spend.spend_travel,
        spend.spend_ecom,
        spend.spend_entertainment,
        spend.spend_card,
        spend.spend_upi,
        spend.travel_share,
        spend.card_share,
        spend.distinct_cities,
        (
            -3.0
            + 4.0 * spend.travel_share
            + 1.0 * spend.card_share
            + 0.5 * ln(1 + spend.avg_monthly_spend / 10000)
            + 0.8 * (coalesce(customers.credit_score, 650) - 700) / 100
            + 0.3 * ln(1 + greatest(customers.liquid_balance, 0) / 100000)
            + 0.5 * (spend.distinct_cities > 1)::int
        ) as propensity_logit

    from spend
    inner join customers using (customer_id)
    -- only customers the bank can still sell to
    where customers.customer_status = 'Active' and not customers.is_minor

),

final as (

    select
        *,
        1 / (1 + exp(-propensity_logit)) as propensity_score

    from scored

)

select
    *,
    row_number() over (order by propensity_score desc, customer_id asc) as propensity_rank,
    case
        when not holds_credit_card
            then row_number() over (partition by holds_credit_card order by propensity_score desc, customer_id asc)
    end as prospect_rank,
    ntile(10) over (order by propensity_score desc, customer_id asc) as propensity_decile
from final
