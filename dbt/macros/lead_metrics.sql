{# The lead-generation measures, over rows of campaign_customer_archetypes. #}
{% macro lead_metrics() -%}
        count(*) as customers,
        count(*) filter (where customer_status = 'Active') as active_customers,
        sum(recommendations) as recommendations,
        sum(accepted) as accepted,
        sum(accepted) / nullif(sum(recommendations), 0) as acceptance_rate,
        sum(sales) as sales,
        sum(sales_amount) as sales_amount,
        avg(credit_score) as avg_credit_score,
        avg(liquid_balance) as avg_liquid_balance,
        avg(avg_monthly_spend) as avg_monthly_spend
{%- endmacro %}
