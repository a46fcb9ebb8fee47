-- How recommendations spread over status, affinity band and customer lifecycle stage.
with

recommendations as (

    select * from {{ ref('fct_recommendations') }}

),

counted as (

    select
        case
            when grouping(recommendation_status) = 0 then 'recommendation_status'
            when grouping(affinity_band) = 0 then 'affinity_band'
            else 'lifecycle_stage'
        end as distribution,
        coalesce(recommendation_status, affinity_band, lifecycle_stage) as bucket,
        count(*) as recommendations,
        count(distinct customer_id) as customers

    from recommendations
    group by grouping sets ((recommendation_status), (affinity_band), (lifecycle_stage))

)

select
    distribution || ':' || bucket as distribution_bucket_id,
    distribution,
    bucket,
    recommendations,
    customers,
    recommendations / sum(recommendations) over (partition by distribution) as share

from counted
