with

source as (

    select * from {{ source('raw', 'transactions') }}

),

renamed as (

    select
        transaction_id,
        account_id,
        customer_id,
        timezone('UTC', transaction_ts) as transaction_at,
        cast(timezone('UTC', transaction_ts) as date) as transaction_date,
        amount,
        currency,
        mode as payment_mode,
        reason as spend_category,
        merchant,
        city as transaction_city

    from source

)

select * from renamed
