-- Recommendation KPIs overall and by customer segment, product type and lifecycle stage, in one
-- long table: filter on dimension, read one row per dimension_value.
with

recommendations as (

    select * from {{ ref('recommendation_records') }}

),

grouped as (

    select
        case
            when grouping(customer_segment) = 0 then 'segment'
            when grouping(product_type) = 0 then 'product_type'
            when grouping(lifecycle_stage) = 0 then 'lifecycle_stage'
            else 'overall'
        end as dimension,
        coalesce(customer_segment, product_type, lifecycle_stage, 'All') as dimension_value,
        count(*) as recommendations,
        count(distinct customer_id) as customers,
        avg(recommendation_score) as avg_recommendation_score,
        avg(satisfaction_score) as avg_satisfaction_score,
        avg(churn_probability) as avg_churn_probability,
        count(*) filter (where is_accepted) as accepted,
        count(*) filter (where sales_amount is not null) as product_sales,
        coalesce(sum(sales_amount), 0) as product_sales_amount,
        -- accepted out of every live recommendation, decided or not
        count(*) filter (where is_accepted) / count(*) as acceptance_rate

    from recommendations
    -- sqlfluff 4.4 cannot parse duckdb's grouping sets (4.5 can), hence the noqa
    group by grouping sets ((), (customer_segment), (product_type), (lifecycle_stage))  -- noqa: PRS

)

select
    dimension || ':' || dimension_value as kpi_id,
    *
from grouped
