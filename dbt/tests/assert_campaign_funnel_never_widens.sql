-- A funnel only narrows: no stage holds more recommendations than the stage before it.
select *
from (
    select
        archetype,
        stage,
        recommendations,
        lag(recommendations) over (partition by archetype order by stage_order) as previous_stage_recommendations
    from {{ ref('campaign_funnel') }}
)
where recommendations > previous_stage_recommendations
