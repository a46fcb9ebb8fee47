-- One row per product of the catalogue, with what it earns the bank.
with

products as (

    select * from {{ ref('stg_raw__products') }}

),

final as (

    select
        *,
        interchange_rate_pct is not null as earns_interchange,
        product_type = 'Loan' and interest_rate_pct is not null as earns_loan_interest

    from products

)

select * from final
