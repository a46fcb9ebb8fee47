{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ delete_date_window('transaction_date') }}",
    )
}}

-- depends_on: {{ ref('dim_customers') }}
-- (the relationships test reads dim_customers, so it must be built before this fact)

-- One row per transaction, partitioned by day: the account's product and the interchange fee
-- the bank earns on it. A partitioned run replaces only the days of its window.
with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}
    where {{ date_window_predicate('transaction_date') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

final as (

    select
        transactions.transaction_id,
        transactions.transaction_date,
        transactions.transaction_at,
        transactions.customer_id,
        transactions.account_id,
        accounts.account_type,
        accounts.product_id,
        accounts.product_type,
        transactions.amount,
        transactions.currency,
        transactions.payment_mode,
        transactions.spend_category,
        transactions.merchant,
        transactions.transaction_city,
        -- card spend earns the card product's interchange; other modes and products earn none
        case
            when transactions.payment_mode = 'Card' and accounts.interchange_rate_pct is not null
                then transactions.amount * accounts.interchange_rate_pct / 100
            else 0
        end as interchange_fee

    from transactions
    left join accounts using (account_id)

)

select * from final
