-- One row per live FPR recommendation (its latest state), with the bands the dashboards use.
with

recommendations as (

    select * from {{ ref('stg_masked__fpr_records') }}

),

final as (

    select
        record_id,
        customer_id,
        product_id,
        product_name,
        product_type,
        recommendation_date,
        recommendation_status,
        recommendation_score,
        coalesce(customer_segment, 'Unknown') as customer_segment,
        coalesce(lifecycle_stage, 'Unknown') as lifecycle_stage,
        lifecycle_transition_date,
        account_balance,
        transaction_value_30d,
        transaction_count_30d,
        satisfaction_score,
        churn_probability,
        product_usage,
        product_affinity,
        -- affinity bands: thirds of the [0, 1] scale, the cut-offs product managers quote
        case
            when product_affinity is null then 'Unknown'
            when product_affinity >= {{ var('affinity_high') }} then 'High'
            when product_affinity >= {{ var('affinity_medium') }} then 'Medium'
            else 'Low'
        end as affinity_band,
        affinity_trend,
        usage_trend,
        interests,
        recommendation_status = 'Accepted' as is_accepted,
        recommendation_status in ('Accepted', 'Rejected', 'Expired') as is_decided,
        sales_amount,
        sales_date,
        updated_at

    from recommendations

)

select * from final
