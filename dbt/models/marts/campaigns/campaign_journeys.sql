-- One row per live recommendation: how far down the campaign funnel it got, and the archetype
-- of the customer it was pitched to. Each stage requires the one before:
--   Reached                every live recommendation (the pitch was shown)
--   Explored               the customer opened it: Viewed, Accepted or Rejected
--   Started Application    the customer accepted the offer
--   Completed Application  accepted and a sale was booked (sales date recorded)
--   KYC                    completed, and the customer's KYC record is in good standing:
--                          status Active with a bureau score on file
--   Onboarded              KYC, a positive sale amount, and the customer was active (a payment or
--                          a successful login) on or after the sales day
with

recommendations as (

    select * from {{ ref('recommendation_records') }}

),

archetypes as (

    select
        customer_id,
        archetype,
        customer_status,
        credit_score
    from {{ ref('campaign_customer_archetypes') }}

),

last_activity as (

    select
        customer_id,
        max(activity_date) as last_active_date
    from (
        select
            customer_id,
            transaction_date as activity_date
        from {{ ref('stg_raw__transactions') }}
        union all
        select
            customer_id,
            login_date
        from {{ ref('stg_raw__login_activity') }}
        where is_successful
    )
    group by customer_id

),

stages as (

    select
        recommendations.record_id,
        recommendations.customer_id,
        recommendations.product_id,
        recommendations.product_type,
        recommendations.recommendation_date,
        recommendations.recommendation_status,
        recommendations.sales_amount,
        recommendations.sales_date,
        coalesce(archetypes.archetype, 'Generic') as archetype,
        true as is_reached,
        recommendations.recommendation_status in ('Viewed', 'Accepted', 'Rejected') as is_explored,
        recommendations.recommendation_status = 'Accepted' as is_started_application,
        (
            recommendations.recommendation_status = 'Accepted'
            and recommendations.sales_date is not null
        ) as is_completed_application,
        -- a customer missing from the masked book (quarantined) has not passed KYC: false, not null
        coalesce(
            recommendations.recommendation_status = 'Accepted'
            and recommendations.sales_date is not null
            and archetypes.customer_status = 'Active'
            and archetypes.credit_score is not null,
            false
        ) as is_kyc,
        coalesce(
            recommendations.recommendation_status = 'Accepted'
            and recommendations.sales_date is not null
            and archetypes.customer_status = 'Active'
            and archetypes.credit_score is not null
            and recommendations.sales_amount > 0
            and last_activity.last_active_date >= recommendations.sales_date,
            false
        ) as is_onboarded

    from recommendations
    left join archetypes using (customer_id)
    left join last_activity using (customer_id)

)

select
    *,
    case
        when is_onboarded then 'Onboarded'
        when is_kyc then 'KYC'
        when is_completed_application then 'Completed Application'
        when is_started_application then 'Started Application'
        when is_explored then 'Explored'
        else 'Reached'
    end as furthest_stage,
    (
        is_reached::int + is_explored::int + is_started_application::int
        + is_completed_application::int + is_kyc::int + is_onboarded::int
    ) as furthest_stage_order
from stages
