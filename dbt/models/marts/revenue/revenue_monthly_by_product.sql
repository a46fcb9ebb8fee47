-- What the bank earns per month and product:
--   interchange fees  card payments charged to a credit card x the card's interchange rate
--   loan interest     each open loan's balance x its annual rate / 12, for every month the loan
--                     was open (opened on or before the month's last day); the balance is the
--                     latest snapshot, the convention of a monthly accrual estimate
-- Months run from the first to the latest month with transactions. covered_from/covered_to
-- are the first and last day of facts behind the numbers, so a reader (or a test) can tell a
-- month still being filled from a wrong number.
with

coverage as (

    select
        min(transaction_date) as covered_from,
        max(transaction_date) as covered_to
    from {{ ref('fct_transactions') }}

),

interchange as (

    select
        date_trunc('month', transaction_date)::date as revenue_month,
        product_id,
        count(*) as card_transactions,
        sum(amount) as card_spend,
        sum(interchange_fee) as interchange_fees

    from {{ ref('fct_transactions') }}
    where interchange_fee > 0
    group by all

),

months as (

    select
        unnest(generate_series(
            date_trunc('month', min(transaction_date)),
            date_trunc('month', max(transaction_date)),
            interval 1 month
        ))::date as revenue_month
    from {{ ref('fct_transactions') }}

),

loans as (

    select * from {{ ref('dim_accounts') }}
    where product_type = 'Loan' and account_status = 'Open' and interest_rate_pct is not null

),

loan_interest as (

    select
        months.revenue_month,
        loans.product_id,
        count(*) as loan_accounts,
        sum(loans.balance) as loan_balance,
        sum(loans.balance * loans.interest_rate_pct / 100 / 12) as loan_interest

    from months
    inner join loans
        on loans.opened_on <= last_day(months.revenue_month)
    group by all

),

combined as (

    select
        revenue_month,
        product_id,
        coalesce(interchange.card_transactions, 0) as card_transactions,
        coalesce(interchange.card_spend, 0) as card_spend,
        coalesce(interchange.interchange_fees, 0) as interchange_fees,
        coalesce(loan_interest.loan_accounts, 0) as loan_accounts,
        coalesce(loan_interest.loan_balance, 0) as loan_balance,
        coalesce(loan_interest.loan_interest, 0) as loan_interest

    from interchange
    full outer join loan_interest using (revenue_month, product_id)

),

products as (

    select
        product_id,
        product_name,
        product_type
    from {{ ref('dim_products') }}

)

select
    strftime(combined.revenue_month, '%Y-%m') || ':' || combined.product_id as revenue_id,
    combined.revenue_month,
    combined.product_id,
    products.product_name,
    products.product_type,
    combined.card_transactions,
    combined.card_spend,
    combined.interchange_fees,
    combined.loan_accounts,
    combined.loan_balance,
    combined.loan_interest,
    combined.interchange_fees + combined.loan_interest as total_revenue,
    coverage.covered_from,
    coverage.covered_to

from combined
left join products using (product_id)
cross join coverage
