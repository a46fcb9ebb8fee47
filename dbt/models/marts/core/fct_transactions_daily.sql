{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ delete_date_window('transaction_date') }}",
    )
}}

-- Spend per day, category and payment mode: the grain of every trend chart.
with

transactions as (

    select * from {{ ref('fct_transactions') }}
    where {{ date_window_predicate('transaction_date') }}

),

final as (

    select
        strftime(transaction_date, '%Y-%m-%d') || '|' || spend_category || '|' || payment_mode as daily_spend_id,
        transaction_date,
        spend_category,
        payment_mode,
        count(*) as transactions,
        count(distinct customer_id) as customers,
        sum(amount) as spend_amount,
        sum(interchange_fee) as interchange_fees

    from transactions
    group by all

)

select * from final
