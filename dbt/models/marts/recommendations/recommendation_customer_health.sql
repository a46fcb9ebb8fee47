-- One row per customer with live recommendations: the FPR engine's latest read of the customer
-- (satisfaction, churn probability) and product engagement, folded into a 0-100 health score.
with

recommendations as (

    select * from {{ ref('recommendation_records') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

latest as (

    -- the most recent recommendation carries the engine's current view of the customer
    select
        customer_id,
        satisfaction_score,
        churn_probability,
        lifecycle_stage
    from recommendations
    qualify
        row_number() over (
            partition by customer_id
            order by recommendation_date desc, updated_at desc, record_id desc
        ) = 1

),

per_customer as (

    select
        customer_id,
        count(*) as recommendations,
        count(*) filter (where is_accepted) as accepted,
        avg(product_usage) as avg_product_usage,
        avg(product_affinity) as avg_product_affinity

    from recommendations
    group by customer_id

),

scored as (

    select
        per_customer.*,
        latest.satisfaction_score,
        latest.churn_probability,
        latest.lifecycle_stage,
        customers.segment,
        customers.affluence_level,
        customers.customer_status,
        -- Health: satisfaction (rescaled from 1-10) and retention weigh 40% each, product usage
        -- 20%: what the customer says, what they are likely to do, what they actually use.
        round(100 * (
            0.4 * (latest.satisfaction_score - 1) / 9
            + 0.4 * (1 - latest.churn_probability)
            + 0.2 * coalesce(per_customer.avg_product_usage, 0)
        ), 1) as health_score,
        (
            latest.churn_probability >= {{ var('attention_churn_probability') }}
            and latest.satisfaction_score <= {{ var('attention_satisfaction') }}
        ) as needs_attention

    from per_customer
    inner join latest using (customer_id)
    left join customers using (customer_id)

)

select
    *,
    case
        when health_score >= 70 then 'Healthy'
        when health_score >= 40 then 'Watch'
        else 'Critical'
    end as health_band
from scored
