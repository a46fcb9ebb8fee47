-- One row per customer: the campaign archetype they are targeted as, and what the FPR
-- campaigns got from them so far (the base of the lead-generation marts). The first rule that
-- matches wins, in this order:
--   Financially Stressed      credit score below 650, or High risk with under INR 10,000 liquid
--   Recovering Credit Users   score up 10+ points over their bureau history, still below 750
--   Prosperous and Content    Affluent or HNI, score 750+, satisfaction 7+ (or not yet surveyed)
--   Deal Chasers              40%+ of spend on Ecom and Entertainment, 8+ payments a month
--   Self Aware Avoiders       score 700+, no card and no loan, under INR 5,000 spend a month
--   Generic                   everyone else
with

customers as (

    select * from {{ ref('dim_customers') }}

),

spend as (

    select * from {{ ref('int_customer_spend_profile') }}

),

health as (

    select
        customer_id,
        satisfaction_score
    from {{ ref('recommendation_customer_health') }}

),

leads as (

    select
        customer_id,
        count(*) as recommendations,
        count(*) filter (where is_accepted) as accepted,
        count(*) filter (where sales_amount is not null) as sales,
        coalesce(sum(sales_amount), 0) as sales_amount

    from {{ ref('recommendation_records') }}
    group by customer_id

),

features as (

    select
        customers.customer_id,
        customers.segment,
        customers.state,
        customers.risk_category,
        customers.affluence_level,
        customers.customer_status,
        customers.credit_score,
        customers.credit_score_change,
        customers.liquid_balance,
        customers.holds_credit_card,
        customers.holds_loan,
        health.satisfaction_score,
        coalesce(spend.transactions, 0) as transactions,
        coalesce(spend.total_spend, 0) as total_spend,
        coalesce(spend.avg_monthly_spend, 0) as avg_monthly_spend,
        coalesce(spend.avg_monthly_transactions, 0) as avg_monthly_transactions,
        coalesce(spend.discretionary_share, 0) as discretionary_share,
        coalesce(spend.travel_share, 0) as travel_share,
        coalesce(leads.recommendations, 0) as recommendations,
        coalesce(leads.accepted, 0) as accepted,
        coalesce(leads.sales, 0) as sales,
        coalesce(leads.sales_amount, 0) as sales_amount

    from customers
    left join spend using (customer_id)
    left join health using (customer_id)
    left join leads using (customer_id)

)

select
    *,
    case
        when credit_score < 650
            or (risk_category = 'High' and liquid_balance < 10000)
            then 'Financially Stressed'
        when credit_score_change >= 10 and credit_score < 750
            then 'Recovering Credit Users'
        when affluence_level in ('Affluent', 'HNI') and credit_score >= 750
            and coalesce(satisfaction_score, 10) >= 7
            then 'Prosperous and Content'
        when discretionary_share >= 0.4 and avg_monthly_transactions >= 8
            then 'Deal Chasers'
        when credit_score >= 700 and not holds_credit_card and not holds_loan
            and avg_monthly_spend < 5000
            then 'Self Aware Avoiders'
        else 'Generic'
    end as archetype

from features
