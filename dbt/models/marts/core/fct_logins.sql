{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ delete_date_window('login_date') }}",
    )
}}

-- depends_on: {{ ref('dim_customers') }}
-- (the relationships test reads dim_customers, so it must be built before this fact)

-- One row per login, partitioned by day, with what the customer's own history says about it:
-- a device or a city never seen before, and the failures just before it.
with

all_logins as (

    select * from {{ ref('stg_raw__login_activity') }}

),

-- First use of each device and city over the whole history: hash aggregates, which stay cheap
-- on a one-day run however long the history grows (a window over every login would not).
first_login as (

    select
        customer_id,
        min({'at': login_at, 'id': login_id}).id as first_login_id
    from all_logins
    group by customer_id

),

first_on_device as (

    select
        customer_id,
        device_id,
        min({'at': login_at, 'id': login_id}).id as first_login_id
    from all_logins
    group by customer_id, device_id

),

first_in_city as (

    select
        customer_id,
        login_city,
        min({'at': login_at, 'id': login_id}).id as first_login_id
    from all_logins
    group by customer_id, login_city

),

-- The window and one day before it: enough for the 30-minute failure count of every login in it.
recent as (

    select
        *,
        count(*) filter (where not is_successful) over (
            partition by customer_id order by login_at
            range between interval {{ var('login_failure_window_minutes') }} minutes preceding and current row
        ) as failures_in_window

    from all_logins
    where {{ date_window_predicate('login_date', lookback_days=1) }}

),

final as (

    select
        recent.login_id,
        recent.login_date,
        recent.login_at,
        recent.customer_id,
        recent.is_successful,
        recent.device_id,
        recent.device_type,
        recent.login_city,
        recent.login_id = first_login.first_login_id as is_first_login,
        -- a customer's very first login is new by definition, not a signal
        (
            recent.login_id = first_on_device.first_login_id
            and recent.login_id <> first_login.first_login_id
        ) as is_new_device,
        (
            recent.login_id = first_in_city.first_login_id
            and recent.login_id <> first_login.first_login_id
        ) as is_new_city,
        recent.failures_in_window,
        recent.failures_in_window >= {{ var('login_failure_burst') }} as is_failure_burst

    from recent
    inner join first_login on recent.customer_id = first_login.customer_id
    -- a missing device or city is a value of its own here, not a reason to drop the login
    inner join first_on_device
        on recent.customer_id = first_on_device.customer_id
            and recent.device_id is not distinct from first_on_device.device_id
    inner join first_in_city
        on recent.customer_id = first_in_city.customer_id
            and recent.login_city is not distinct from first_in_city.login_city
    where {{ date_window_predicate('recent.login_date') }}

)

select * from final
