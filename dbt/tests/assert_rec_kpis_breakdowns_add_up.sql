-- Every breakdown of the KPIs (segment, product type, lifecycle stage) covers each live
-- recommendation exactly once: its counts and sales add up to the overall row.
with

totals as (

    select
        dimension,
        sum(recommendations) as recommendations,
        sum(accepted) as accepted,
        sum(product_sales_amount) as product_sales_amount
    from {{ ref('recommendation_kpis') }}
    group by dimension

),

overall as (

    select * from totals
    where dimension = 'overall'

)

select breakdown.*
from totals as breakdown
cross join overall
where breakdown.recommendations <> overall.recommendations
    or breakdown.accepted <> overall.accepted
    or abs(breakdown.product_sales_amount - overall.product_sales_amount) > 0.01
