-- What customers spend on: transactions, customers and spend per category (reason), with each
-- category's most used payment mode.
with

transactions as (

    select * from {{ ref('fct_transactions') }}

),

top_mode as (

    select
        spend_category,
        payment_mode as most_used_payment_mode
    from transactions
    group by spend_category, payment_mode
    -- ties broken by name, so the answer does not depend on scan order
    qualify row_number() over (partition by spend_category order by count(*) desc, payment_mode) = 1

)

select
    spend_category,
    count(*) as transactions,
    count(distinct transactions.customer_id) as customers,
    sum(transactions.amount) as spend_amount,
    avg(transactions.amount) as avg_amount,
    sum(transactions.amount) / sum(sum(transactions.amount)) over () as share_of_spend,
    any_value(top_mode.most_used_payment_mode) as most_used_payment_mode

from transactions
inner join top_mode using (spend_category)
group by spend_category
