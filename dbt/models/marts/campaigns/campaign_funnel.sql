-- The campaign funnel by archetype: recommendations and customers at each stage (stage rules in
-- campaign_journeys), the conversion from the stage before and from Reached. The archetype
-- "All" is the whole book. Every archetype has all six stages, with zeros where nobody got that far.
with

journeys as (

    select * from {{ ref('campaign_journeys') }}

),

stages as (

    select
        stage_list.stage_order,
        stage_list.stage
    from (
        values
        (1, 'Reached'),
        (2, 'Explored'),
        (3, 'Started Application'),
        (4, 'Completed Application'),
        (5, 'KYC'),
        (6, 'Onboarded')
    ) as stage_list (stage_order, stage)

),

archetypes as (

    select distinct archetype from journeys
    union all
    select 'All' as archetype

),

counted as (

    select
        archetypes.archetype,
        stages.stage_order,
        stages.stage,
        count(journeys.record_id) as recommendations,
        count(distinct journeys.customer_id) as customers

    from archetypes
    cross join stages
    left join journeys
        on (archetypes.archetype = 'All' or archetypes.archetype = journeys.archetype)
            and stages.stage_order <= journeys.furthest_stage_order
    group by all

)

select
    archetype || ':' || stage as funnel_step_id,
    archetype,
    stage_order,
    stage,
    recommendations,
    customers,
    recommendations / nullif(lag(recommendations) over by_stage, 0) as conversion_from_previous,
    recommendations / nullif(first_value(recommendations) over by_stage, 0) as conversion_from_reached

from counted
window by_stage as (partition by archetype order by stage_order)
