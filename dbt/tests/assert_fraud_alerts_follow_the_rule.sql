-- An alert is raised exactly on an impossible-travel payment, a failed-login burst, or a login
-- from a new device and city on a day with a suspicious payment; only days with a signal are listed.
select *
from {{ ref('fraud_customer_days') }}
where is_alert <> (
        impossible_travel_transactions > 0
        or failure_burst_logins > 0
        or (new_device_and_city_logins > 0 and velocity_transactions + amount_outlier_transactions > 0)
    )
    or signal_kinds = 0
