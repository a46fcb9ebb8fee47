-- Impossible travel needs a previous payment in another city, far away and too soon.
select *
from {{ ref('fraud_transaction_risk_signals') }}
where is_impossible_travel
    and (
        previous_city is null or previous_city = transaction_city
        or km_from_previous < {{ var('impossible_travel_min_km') }}
        or hours_since_previous > {{ var('impossible_travel_max_hours') }}
        or implied_speed_kmh <= {{ var('impossible_travel_speed_kmh') }}
    )
