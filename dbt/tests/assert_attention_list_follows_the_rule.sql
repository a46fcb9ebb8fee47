{{ config(meta={'dagster': {'ref': {'name': 'recommendation_customers_needing_attention'}}}) }}

-- The worklist is exactly the customers at high churn risk with low satisfaction (thresholds in dbt_project.yml).
with

expected as (

    select customer_id from {{ ref('recommendation_customer_health') }}
    where churn_probability >= {{ var('attention_churn_probability') }}
        and satisfaction_score <= {{ var('attention_satisfaction') }}

),

listed as (

    select customer_id from {{ ref('recommendation_customers_needing_attention') }}

)

select coalesce(expected.customer_id, listed.customer_id) as customer_id
from expected
full outer join listed using (customer_id)
where expected.customer_id is null or listed.customer_id is null
