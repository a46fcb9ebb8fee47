-- One row per live FPR recommendation: its latest version, tombstoned records dropped.
-- Customer name and email are tokens in the masked feed and are not selected: analysis joins on
-- customer_id. The source columns carry the vendor's documented field names; the short output
-- names below are what the marts use (the mapping is described in __models.yml).
with

source as (

    select * from {{ source('masked', 'fpr_records') }}

),

latest as (

    -- The latest version first, then drop tombstones: filtering first would resurrect the
    -- version before a deletion if the masked table ever held more than one.
    select * from source
    qualify row_number() over (partition by record_id order by updated_at desc) = 1

),

renamed as (

    select
        record_id,
        customer_id,
        product_id,

        -- customer state as the FPR engine saw it
        customer_segment,
        customer_lifecycle_stage as lifecycle_stage,
        customer_lifecycle_stage_transition_date as lifecycle_transition_date,
        account_balance,
        transaction_history as transaction_history_30d,
        customer_transaction_value as transaction_value_30d,
        customer_transaction_count as transaction_count_30d,
        customer_product_interests as interests,
        customer_satisfaction_score as satisfaction_score,
        customer_churn_probability as churn_probability,

        -- the recommendation
        product_name,
        product_type,
        product_recommendation as recommendation_text,
        product_recommendation_date as recommendation_date,
        product_recommendation_status as recommendation_status,
        recommendation_score,
        -- The vendor documents a string; the share arrives as decimal text. Unparseable text (a
        -- warning of the quality gate) becomes null rather than failing the build.
        try_cast(customer_product_usage as double) as product_usage,
        customer_product_affinity as product_affinity,
        customer_product_affinity_trend as affinity_trend,
        customer_product_usage_trend as usage_trend,

        -- the sale, once accepted
        product_sales_amount as sales_amount,
        product_sales_date as sales_date,

        timezone('UTC', updated_at) as updated_at

    from latest
    where not coalesce(_deleted, false)

)

select * from renamed
