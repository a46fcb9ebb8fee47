-- Lead generation by archetype: how many customers each archetype holds, how they respond to
-- recommendations and what they buy.
select
    archetype,
    {{ lead_metrics() }},
    count(*) / sum(count(*)) over () as share_of_customers

from {{ ref('campaign_customer_archetypes') }}
group by archetype
