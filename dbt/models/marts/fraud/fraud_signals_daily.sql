{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ delete_date_window('activity_date') }}",
    )
}}

-- The fraud desk's daily counter: activity, signals by kind and alerts, one row per day.
with

transactions as (

    select
        transaction_date as activity_date,
        count(*) as transactions,
        count(*) filter (where is_impossible_travel) as impossible_travel_transactions,
        count(*) filter (where is_velocity_burst) as velocity_transactions,
        count(*) filter (where is_amount_outlier) as amount_outlier_transactions

    from {{ ref('fraud_transaction_risk_signals') }}
    where {{ date_window_predicate('transaction_date') }}
    group by all

),

logins as (

    select
        login_date as activity_date,
        count(*) as logins,
        count(*) filter (where not is_successful) as failed_logins,
        count(*) filter (where is_failure_burst) as failure_burst_logins,
        count(*) filter (where is_new_device and is_new_city) as new_device_and_city_logins

    from {{ ref('fct_logins') }}
    where {{ date_window_predicate('login_date') }}
    group by all

),

alerts as (

    select
        activity_date,
        count(*) filter (where is_alert) as alerted_customers,
        coalesce(sum(flagged_amount) filter (where is_alert), 0) as alerted_amount

    from {{ ref('fraud_customer_days') }}
    where {{ date_window_predicate('activity_date') }}
    group by all

)

select
    activity_date,
    coalesce(transactions.transactions, 0) as transactions,
    coalesce(transactions.impossible_travel_transactions, 0) as impossible_travel_transactions,
    coalesce(transactions.velocity_transactions, 0) as velocity_transactions,
    coalesce(transactions.amount_outlier_transactions, 0) as amount_outlier_transactions,
    coalesce(logins.logins, 0) as logins,
    coalesce(logins.failed_logins, 0) as failed_logins,
    coalesce(logins.failure_burst_logins, 0) as failure_burst_logins,
    coalesce(logins.new_device_and_city_logins, 0) as new_device_and_city_logins,
    coalesce(alerts.alerted_customers, 0) as alerted_customers,
    coalesce(alerts.alerted_amount, 0) as alerted_amount

from transactions
full outer join logins using (activity_date)
left join alerts using (activity_date)
