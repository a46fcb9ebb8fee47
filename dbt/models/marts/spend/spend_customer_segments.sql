-- Customers split into Low, Medium and High spenders: thirds of the book by spend per 30 days
-- (terciles, so the split does not depend on how many days of history are loaded).
with

spend as (

    select * from {{ ref('int_customer_spend_profile') }}

),

ranked as (

    select
        customer_id,
        transactions,
        total_spend,
        avg_monthly_spend,
        spend_30d,
        ntile(3) over (order by avg_monthly_spend, customer_id) as spend_tercile

    from spend

)

select
    *,
    case spend_tercile when 1 then 'Low' when 2 then 'Medium' else 'High' end as spend_segment
from ranked
