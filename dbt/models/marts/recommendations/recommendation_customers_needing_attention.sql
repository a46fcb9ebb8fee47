-- The retention team's worklist: customers the FPR engine sees as likely to leave and unhappy,
-- most at risk first.
with

health as (

    select * from {{ ref('recommendation_customer_health') }}

)

select
    customer_id,
    row_number() over (order by churn_probability desc, satisfaction_score asc, customer_id asc) as attention_rank,
    churn_probability,
    satisfaction_score,
    health_score,
    health_band,
    lifecycle_stage,
    segment,
    affluence_level,
    customer_status,
    recommendations,
    accepted

from health
where needs_attention
