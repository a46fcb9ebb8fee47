-- How customers pay, week by week (weeks start on Monday): transactions and spend per payment
-- mode and each mode's share of the week.
with

daily as (

    select * from {{ ref('fct_transactions_daily') }}

),

weekly as (

    select
        date_trunc('week', transaction_date)::date as week_start,
        payment_mode,
        sum(transactions) as transactions,
        sum(spend_amount) as spend_amount

    from daily
    group by all

)

select
    strftime(week_start, '%Y-%m-%d') || ':' || payment_mode as week_mode_id,
    week_start,
    payment_mode,
    transactions,
    spend_amount,
    transactions / sum(transactions) over (partition by week_start) as share_of_transactions,
    spend_amount / sum(spend_amount) over (partition by week_start) as share_of_spend

from weekly
