-- Spend per category week by week (weeks start on Monday), with the change on the week before
-- and the category's share of the week.
with

weekly as (

    select
        date_trunc('week', transaction_date)::date as week_start,
        spend_category,
        sum(transactions) as transactions,
        sum(spend_amount) as spend_amount

    from {{ ref('fct_transactions_daily') }}
    group by all

)

select
    strftime(week_start, '%Y-%m-%d') || ':' || spend_category as week_category_id,
    week_start,
    spend_category,
    transactions,
    spend_amount,
    lag(spend_amount) over (partition by spend_category order by week_start) as previous_week_spend_amount,
    spend_amount / nullif(lag(spend_amount) over (partition by spend_category order by week_start), 0) - 1
        as week_on_week_change,
    spend_amount / sum(spend_amount) over (partition by week_start) as share_of_week_spend

from weekly
