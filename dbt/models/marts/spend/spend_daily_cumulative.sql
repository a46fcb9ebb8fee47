-- Spend day by day and its running total since the first day in the warehouse.
with

daily as (

    select
        transaction_date,
        sum(transactions) as transactions,
        sum(spend_amount) as spend_amount

    from {{ ref('fct_transactions_daily') }}
    group by transaction_date

)

select
    transaction_date,
    transactions,
    spend_amount,
    sum(spend_amount) over (order by transaction_date) as cumulative_spend_amount,
    sum(transactions) over (order by transaction_date) as cumulative_transactions

from daily
