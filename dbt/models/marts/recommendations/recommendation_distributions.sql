-- How recommendations spread over status, affinity band and customer lifecycle stage.
with

recommendations as (

    select * from {{ ref('recommendation_records') }}

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
    -- sqlfluff 4.4 cannot parse duckdb's grouping sets (4.5 can), hence the noqa
    group by grouping sets ((recommendation_status), (affinity_band), (lifecycle_stage))  -- noqa: PRS

)

select
    distribution || ':' || bucket as distribution_bucket_id,
    distribution,
    bucket,
    recommendations,
    customers,
    recommendations / sum(recommendations) over (partition by distribution) as share

from counted
