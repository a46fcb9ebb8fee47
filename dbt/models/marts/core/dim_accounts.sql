-- One row per account, with the product it was opened on.
with

accounts as (

    select * from {{ ref('stg_raw__accounts') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

final as (

    select
        accounts.*,
        products.product_name,
        products.product_type,
        products.product_subtype,
        products.interest_rate_pct,
        products.interchange_rate_pct

    from accounts
    left join products using (product_id)

)

select * from final
