{{ config(meta={'dagster': {'ref': {'name': 'revenue_monthly_by_product'}}}) }}

-- Revenue recomputed from staging, independently of the facts: interchange from every card
-- payment on a credit card, loan interest from every open loan and month. Over the days the
-- mart covers: a day that has landed but whose facts are not built yet (a backfill or the
-- automation still on its way) is lag, not a wrong number. (Only staging and the mart are read:
-- a test reading a daily fact would run with the facts, before the mart exists.)
with

coverage as (

    select
        min(covered_from) as covered_from,
        max(covered_to) as covered_to
    from {{ ref('revenue_monthly_by_product') }}

),

expected_interchange as (

    select sum(transactions.amount * products.interchange_rate_pct / 100) as interchange_fees
    from {{ ref('stg_raw__transactions') }} as transactions
    inner join {{ ref('stg_raw__accounts') }} as accounts using (account_id)
    inner join {{ ref('stg_raw__products') }} as products using (product_id)
    cross join coverage
    where transactions.payment_mode = 'Card' and accounts.account_type = 'Credit Card'
        and transactions.transaction_date between coverage.covered_from and coverage.covered_to

),

reported as (

    select
        sum(interchange_fees) as interchange_fees,
        sum(total_revenue) as total_revenue,
        sum(loan_interest) as loan_interest
    from {{ ref('revenue_monthly_by_product') }}

)

select
    reported.*,
    expected.interchange_fees as expected_interchange_fees
from reported
cross join expected_interchange as expected
where abs(reported.interchange_fees - coalesce(expected.interchange_fees, 0)) > 0.01
    or abs(reported.total_revenue - reported.interchange_fees - reported.loan_interest) > 0.01
