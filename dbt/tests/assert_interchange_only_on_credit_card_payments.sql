-- Interchange is earned on card payments charged to a credit card, at the card's rate; nothing else earns it.
select *
from {{ ref('fct_transactions') }}
where (interchange_fee > 0 and (payment_mode <> 'Card' or account_type <> 'Credit Card'))
    or (payment_mode = 'Card' and account_type = 'Credit Card' and interchange_fee <= 0)
