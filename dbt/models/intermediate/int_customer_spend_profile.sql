-- One row per customer with transactions: how much, how often, on what and how they pay, over
-- their whole history and the last 30 days before the latest transaction day in the warehouse.
-- Shared by cross-sell, archetypes, spend segments and engagement.
with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}

),

as_of as (

    -- the window the bank has seen: first to latest transaction day
    select
        min(transaction_date) as first_activity_date,
        max(transaction_date) as as_of_date,
        date_diff('day', min(transaction_date), max(transaction_date)) + 1 as observed_days

    from transactions

),

profile as (

    select
        transactions.customer_id,
        count(*) as transactions,
        count(distinct transactions.transaction_date) as active_days,
        min(transactions.transaction_date) as first_transaction_date,
        max(transactions.transaction_date) as last_transaction_date,
        sum(transactions.amount) as total_spend,
        avg(transactions.amount) as avg_transaction_amount,
        coalesce(sum(transactions.amount) filter (
            where transactions.transaction_date > as_of.as_of_date - interval 30 days
        ), 0) as spend_30d,
        count(*) filter (
            where transactions.transaction_date > as_of.as_of_date - interval 30 days
        ) as transactions_30d,
        count(distinct transactions.transaction_city) as distinct_cities,
        {% for category in spend_categories() -%}
            coalesce(sum(transactions.amount) filter (where transactions.spend_category = '{{ category }}'), 0)
                as spend_{{ slug(category) }},
        {% endfor -%}
        {% for mode in payment_modes() -%}
            coalesce(sum(transactions.amount) filter (where transactions.payment_mode = '{{ mode }}'), 0)
                as spend_{{ slug(mode) }},
        {% endfor -%}
        any_value(as_of.as_of_date) as as_of_date,
        any_value(as_of.observed_days) as observed_days

    from transactions
    cross join as_of
    group by transactions.customer_id

),

final as (

    select
        *,
        -- per 30 days observed, so the figures do not grow with the history loaded
        total_spend / observed_days * 30 as avg_monthly_spend,
        transactions / observed_days * 30 as avg_monthly_transactions,
        -- least(): sums of the parts can exceed the separately summed total by a rounding error
        least(spend_travel / total_spend, 1.0) as travel_share,
        least((spend_ecom + spend_entertainment) / total_spend, 1.0) as discretionary_share,
        least(spend_card / total_spend, 1.0) as card_share,
        least((spend_upi + spend_qr) / total_spend, 1.0) as scan_and_pay_share

    from profile

)

select * from final
