-- One row per customer: how engaged they are over the last 30 days before the latest activity
-- day, and how likely they are to leave (the FPR engine's latest churn probability).
--
-- Engagement score (0-100): 40 points for payment days, 30 for login days, 30 for recency,
--   40 x min(active payment days in 30 / 15, 1)
--   + 30 x min(successful login days in 30 / 10, 1)
--   + 30 x max(0, 1 - days since last activity / 30)
-- Churn risk: High at a churn probability of 0.6 or more (the FPR engine's At Risk threshold),
-- Medium from 0.3, Low below; Unknown without any recommendation.
with

customers as (

    select * from {{ ref('dim_customers') }}

),

as_of as (

    select greatest(
        (select max(transaction_date) as latest_date from {{ ref('stg_raw__transactions') }}),
        (select max(login_date) as latest_date from {{ ref('stg_raw__login_activity') }})
    ) as as_of_date

),

payments as (

    select
        customer_id,
        count(*) as transactions_30d,
        sum(amount) as spend_30d,
        count(distinct transaction_date) as payment_days_30d

    from {{ ref('stg_raw__transactions') }}
    where transaction_date > (select as_of.as_of_date from as_of) - interval 30 days
    group by customer_id

),

logins as (

    select
        customer_id,
        count(*) filter (where is_successful) as logins_30d,
        count(*) filter (where not is_successful) as failed_logins_30d,
        count(distinct login_date) filter (where is_successful) as login_days_30d

    from {{ ref('stg_raw__login_activity') }}
    where login_date > (select as_of.as_of_date from as_of) - interval 30 days
    group by customer_id

),

last_seen as (

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

health as (

    select
        customer_id,
        churn_probability,
        satisfaction_score
    from {{ ref('recommendation_customer_health') }}

),

joined as (

    select
        customers.customer_id,
        customers.segment,
        customers.affluence_level,
        customers.customer_status,
        coalesce(payments.transactions_30d, 0) as transactions_30d,
        coalesce(payments.spend_30d, 0) as spend_30d,
        coalesce(payments.payment_days_30d, 0) as payment_days_30d,
        coalesce(logins.logins_30d, 0) as logins_30d,
        coalesce(logins.failed_logins_30d, 0) as failed_logins_30d,
        coalesce(logins.login_days_30d, 0) as login_days_30d,
        last_seen.last_active_date,
        date_diff('day', last_seen.last_active_date, (select as_of.as_of_date from as_of)) as days_since_last_activity,
        health.churn_probability,
        health.satisfaction_score

    from customers
    left join payments using (customer_id)
    left join logins using (customer_id)
    left join last_seen using (customer_id)
    left join health using (customer_id)

),

scored as (

    select
        *,
        round(
            40 * least(payment_days_30d / 15, 1)
            + 30 * least(login_days_30d / 10, 1)
            + 30 * greatest(0, 1 - coalesce(days_since_last_activity, 30) / 30),
            1
        ) as engagement_score

    from joined

)

select
    *,
    case
        when engagement_score >= 60 then 'High'
        when engagement_score >= 25 then 'Medium'
        else 'Low'
    end as engagement_band,
    case
        when churn_probability is null then 'Unknown'
        when churn_probability >= 0.6 then 'High'
        when churn_probability >= 0.3 then 'Medium'
        else 'Low'
    end as churn_risk
from scored
