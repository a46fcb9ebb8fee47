-- Lead generation by product: recommendations made, accepted and sold, and the sales value.
with

recommendations as (

    select * from {{ ref('recommendation_records') }}

),

products as (

    select * from {{ ref('dim_products') }}

)

select
    products.product_id,
    products.product_name,
    products.product_type,
    products.product_subtype,
    count(recommendations.record_id) as recommendations,
    count(recommendations.record_id) filter (where recommendations.is_accepted) as accepted,
    (
        count(recommendations.record_id) filter (where recommendations.is_accepted)
        / nullif(count(recommendations.record_id), 0)
    ) as acceptance_rate,
    count(recommendations.sales_amount) as sales,
    coalesce(sum(recommendations.sales_amount), 0) as sales_amount,
    avg(recommendations.sales_amount) as avg_sale_amount

from products
left join recommendations using (product_id)
group by all
