with

source as (

    select * from {{ source('raw', 'login_activity') }}

),

renamed as (

    select
        login_id,
        customer_id,
        timezone('UTC', login_ts) as login_at,
        cast(timezone('UTC', login_ts) as date) as login_date,
        success as is_successful,
        device_id,
        device_type,
        city as login_city

    from source

)

select * from renamed
