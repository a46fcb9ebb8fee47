with

source as (

    select * from {{ source('raw', 'products') }}

),

latest as (

    -- The catalogue may be re-landed; the most recently landed row of a product wins.
    select * from source
    qualify row_number() over (partition by product_id order by _landed_date desc) = 1

),

renamed as (

    select
        product_id,
        product_name,
        product_type,
        product_subtype,
        interest_rate_pct,
        annual_fee,
        interchange_rate_pct,
        tenure_months,
        min_amount,
        max_amount,
        launched_on

    from latest

)

select * from renamed
