-- Logins that look like account takeover: part of a burst of failures, or from a device and a
-- city the customer has never used before. A new device alone is common (a new phone) and is not
-- listed.
with

logins as (

    select * from {{ ref('fct_logins') }}

)

select
    login_id,
    login_date,
    login_at,
    customer_id,
    is_successful,
    device_id,
    device_type,
    login_city,
    failures_in_window,
    is_failure_burst,
    is_new_device and is_new_city as is_new_device_and_city,
    concat_ws(
        ', ',
        case when is_failure_burst then 'failure burst' end,
        case when is_new_device and is_new_city then 'new device and city' end
    ) as reasons

from logins
where is_failure_burst or (is_new_device and is_new_city)
