-- The first matching rule wins: a customer below 650 is Financially Stressed whatever else they
-- are, and nobody who meets an earlier rule ends up as Generic.
select *
from {{ ref('campaign_customer_archetypes') }}
where (credit_score < 650 and archetype <> 'Financially Stressed')
    or (archetype = 'Prosperous and Content' and affluence_level not in ('Affluent', 'HNI'))
    or (archetype = 'Generic' and (
        credit_score < 650
        or (credit_score_change >= 10 and credit_score < 750)
        or (discretionary_share >= 0.4 and avg_monthly_transactions >= 8)
    ))
