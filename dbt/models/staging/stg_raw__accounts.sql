with

source as (

    select * from {{ source('raw', 'accounts') }}

),

latest as (

    -- An account landed again (a balance or status change) replaces its earlier snapshot.
    select * from source
    qualify row_number() over (partition by account_id order by _landed_date desc) = 1

),

renamed as (

    select
        account_id,
        customer_id,
        product_id,
        account_type,
        open_date as opened_on,
        balance,
        credit_limit,
        currency,
        status as account_status,
        _landed_date as snapshot_date

    from latest

)

select * from renamed
