-- Lead generation by customer segment (Urban / Semi-Urban / Rural) and state.
select
    segment || ':' || state as segment_state_id,
    segment,
    state,
    {{ lead_metrics() }}

from {{ ref('campaign_customer_archetypes') }}
group by segment, state
