{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ delete_date_window('transaction_date') }}",
    )
}}

-- One row per transaction, partitioned by day, with the fraud signals read against the
-- customer's own recent history:
--   velocity          several payments by the customer within the last hour;
--   amount outlier    far above what the customer usually spends: log-amount z-score against
--                     their payments of the 30 days before, once there are enough of them;
--   impossible travel a different city from the customer's previous payment, far away, a few
--                     hours before at most, and further than anyone could travel in between.
-- Every feature looks back a bounded time, so a run reads its window plus 31 days and nothing
-- else: a day's signals are the same whether it was built alone, in a backfill or in a full
-- build, and a daily run does not grow with the history. Reads staging, not fct_transactions, so
-- the look-back never depends on which days of the fact were built already.
with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}
    where {{ date_window_predicate('transaction_date', lookback_days=31) }}

),

cities as (

    select * from {{ ref('city_coordinates') }}

),

located as (

    select
        transactions.*,
        cities.latitude,
        cities.longitude

    from transactions
    left join cities on transactions.transaction_city = cities.city

),

history as (

    select
        *,
        count(*) over (
            partition by customer_id order by transaction_at
            range between interval {{ var('velocity_window_minutes') }} minutes preceding and current row
        ) as transactions_in_velocity_window,
        count(*) over last_30_days as earlier_transactions,
        avg(ln(amount)) over last_30_days as earlier_log_amount_mean,
        stddev_samp(ln(amount)) over last_30_days as earlier_log_amount_sd,
        lag(transaction_at) over by_time as previous_transaction_at,
        lag(transaction_city) over by_time as previous_city,
        lag(latitude) over by_time as previous_latitude,
        lag(longitude) over by_time as previous_longitude

    from located
    window
        by_time as (partition by customer_id order by transaction_at, transaction_id),
        last_30_days as (
            partition by customer_id order by transaction_at
            range between interval 30 days preceding and current row exclude current row
        )

),

previous_within_48_hours as (

    -- an older previous payment says nothing about travel (and may lie before the look-back)
    select
        * replace (
            case when transaction_at - previous_transaction_at <= interval 48 hours then previous_transaction_at end
                as previous_transaction_at,
            case when transaction_at - previous_transaction_at <= interval 48 hours then previous_city end
                as previous_city
        )

    from history

),

measured as (

    select
        *,
        case
            when previous_city is not null and previous_city <> transaction_city
                then {{ haversine_km('previous_latitude', 'previous_longitude', 'latitude', 'longitude') }}
            else 0
        end as km_from_previous,
        date_diff('second', previous_transaction_at, transaction_at) / 3600.0 as hours_since_previous,
        case
            when earlier_transactions >= {{ var('amount_outlier_min_history') }}
                then (ln(amount) - earlier_log_amount_mean) / greatest(earlier_log_amount_sd, 0.1)
        end as amount_zscore

    from previous_within_48_hours

),

final as (

    select
        transaction_id,
        transaction_date,
        transaction_at,
        customer_id,
        account_id,
        amount,
        payment_mode,
        spend_category,
        transaction_city,
        previous_city,
        previous_transaction_at,
        km_from_previous,
        hours_since_previous,
        -- a minute's floor keeps two payments in the same second from dividing by zero
        km_from_previous / greatest(coalesce(hours_since_previous, 48), 1.0 / 60) as implied_speed_kmh,
        transactions_in_velocity_window,
        amount_zscore,

        transactions_in_velocity_window >= {{ var('velocity_min_transactions') }} as is_velocity_burst,
        coalesce(amount_zscore >= {{ var('amount_outlier_zscore') }}, false) as is_amount_outlier,
        -- distinct distant cities within a short window, farther apart than a flight could take
        -- you in the time, getting to and from the airports included
        (
            km_from_previous >= {{ var('impossible_travel_min_km') }}
            and hours_since_previous <= {{ var('impossible_travel_max_hours') }}
            and km_from_previous / greatest(hours_since_previous, 1.0 / 60) > {{ var('impossible_travel_speed_kmh') }}
        ) as is_impossible_travel

    from measured
    where {{ date_window_predicate('transaction_date') }}

)

select
    *,
    is_velocity_burst::int + is_amount_outlier::int + is_impossible_travel::int as signal_count
from final
