-- The fraud analysts' queue of payments: every transaction with at least one signal, with the
-- reasons spelled out, alerted customer-days first.
with

signals as (

    select * from {{ ref('fraud_transaction_risk_signals') }}
    where signal_count > 0

),

customer_days as (

    select
        customer_id,
        activity_date,
        is_alert
    from {{ ref('fraud_customer_days') }}

)

select
    signals.transaction_id,
    signals.transaction_date,
    signals.transaction_at,
    signals.customer_id,
    signals.account_id,
    signals.amount,
    signals.payment_mode,
    signals.spend_category,
    signals.transaction_city,
    signals.previous_city,
    signals.km_from_previous,
    signals.implied_speed_kmh,
    signals.transactions_in_velocity_window,
    signals.amount_zscore,
    signals.is_impossible_travel,
    signals.is_velocity_burst,
    signals.is_amount_outlier,
    signals.signal_count,
    concat_ws(
        ', ',
        case when signals.is_impossible_travel then 'impossible travel' end,
        case when signals.is_velocity_burst then 'velocity' end,
        case when signals.is_amount_outlier then 'amount outlier' end
    ) as reasons,
    coalesce(customer_days.is_alert, false) as is_alerted_customer_day

from signals
left join customer_days
    on signals.customer_id = customer_days.customer_id
        and signals.transaction_date = customer_days.activity_date
