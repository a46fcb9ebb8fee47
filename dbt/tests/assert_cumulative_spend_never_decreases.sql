-- Spend is positive, so the running total only grows, and it ends at the sum of the days.
select *
from (
    select
        transaction_date,
        cumulative_spend_amount,
        lag(cumulative_spend_amount) over (order by transaction_date) as previous_cumulative,
        sum(spend_amount) over () as total_spend,
        max(transaction_date) over () as last_date
    from {{ ref('spend_daily_cumulative') }}
)
where cumulative_spend_amount < previous_cumulative
    or (transaction_date = last_date and abs(cumulative_spend_amount - total_spend) > 0.01)
