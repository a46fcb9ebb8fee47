{{ config(meta={'dagster': {'ref': {'name': 'fct_transactions_daily'}}}) }}

-- The daily rollup holds every transaction once: per day, counts and amounts equal the fact's.
with

daily as (

    select
        transaction_date,
        sum(transactions) as transactions,
        sum(spend_amount) as spend_amount
    from {{ ref('fct_transactions_daily') }}
    group by transaction_date

),

facts as (

    select
        transaction_date,
        count(*) as transactions,
        sum(amount) as spend_amount
    from {{ ref('fct_transactions') }}
    group by transaction_date

)

select
    transaction_date,
    facts.transactions as fact_transactions,
    daily.transactions as daily_transactions,
    facts.spend_amount as fact_spend_amount,
    daily.spend_amount as daily_spend_amount
from facts
full outer join daily using (transaction_date)
where facts.transactions is distinct from daily.transactions
    or abs(coalesce(facts.spend_amount, 0) - coalesce(daily.spend_amount, 0)) > 0.01
