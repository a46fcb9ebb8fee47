{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ delete_date_window('activity_date') }}",
    )
}}

-- One row per customer and day with at least one fraud signal, partitioned by day: the
-- transaction and login signals side by side, and whether the day raises an alert.
-- Alert rule: an impossible-travel payment, or a burst of failed logins, or a login from a new
-- device in a new city on a day with a suspicious payment (the account-takeover pattern).
-- Everything else is logged here but not alerted on: a busy shopping day alone (several
-- payments, one large) is what customers do, not fraud.
with

transaction_signals as (

    select
        customer_id,
        transaction_date as activity_date,
        count(*) filter (where is_impossible_travel) as impossible_travel_transactions,
        count(*) filter (where is_velocity_burst) as velocity_transactions,
        count(*) filter (where is_amount_outlier) as amount_outlier_transactions,
        coalesce(sum(amount) filter (where signal_count > 0), 0) as flagged_amount,
        count(distinct transaction_city) filter (where signal_count > 0) as flagged_cities

    from {{ ref('fraud_transaction_risk_signals') }}
    where {{ date_window_predicate('transaction_date') }}
    group by all
    having count(*) filter (where signal_count > 0) > 0

),

login_signals as (

    select
        customer_id,
        login_date as activity_date,
        count(*) filter (where not is_successful) as failed_logins,
        count(*) filter (where is_failure_burst) as failure_burst_logins,
        count(*) filter (where is_new_device and is_new_city) as new_device_and_city_logins

    from {{ ref('fct_logins') }}
    where {{ date_window_predicate('login_date') }}
    group by all
    having count(*) filter (where is_failure_burst or (is_new_device and is_new_city)) > 0

),

combined as (

    select
        customer_id,
        activity_date,
        coalesce(transaction_signals.impossible_travel_transactions, 0) as impossible_travel_transactions,
        coalesce(transaction_signals.velocity_transactions, 0) as velocity_transactions,
        coalesce(transaction_signals.amount_outlier_transactions, 0) as amount_outlier_transactions,
        coalesce(transaction_signals.flagged_amount, 0) as flagged_amount,
        coalesce(transaction_signals.flagged_cities, 0) as flagged_cities,
        coalesce(login_signals.failed_logins, 0) as failed_logins,
        coalesce(login_signals.failure_burst_logins, 0) as failure_burst_logins,
        coalesce(login_signals.new_device_and_city_logins, 0) as new_device_and_city_logins

    from transaction_signals
    full outer join login_signals using (customer_id, activity_date)

),

kinds as (

    select
        *,
        (
            (impossible_travel_transactions > 0)::int
            + (velocity_transactions > 0)::int
            + (amount_outlier_transactions > 0)::int
            + (failure_burst_logins > 0)::int
            + (new_device_and_city_logins > 0)::int
        ) as signal_kinds

    from combined

)

select
    customer_id || ':' || strftime(activity_date, '%Y-%m-%d') as customer_day_id,
    *,
    (
        impossible_travel_transactions > 0
        or failure_burst_logins > 0
        or (new_device_and_city_logins > 0 and velocity_transactions + amount_outlier_transactions > 0)
    ) as is_alert
from kinds
