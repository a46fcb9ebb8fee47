-- Lead generation by risk category and affluence level: where the leads and the sales sit.
select
    risk_category || ':' || affluence_level as mix_id,
    risk_category,
    affluence_level,
    {{ lead_metrics() }},
    count(*) / sum(count(*)) over () as share_of_customers

from {{ ref('campaign_customer_archetypes') }}
group by risk_category, affluence_level
