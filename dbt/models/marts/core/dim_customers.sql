-- One row per customer: masked KYC attributes, the bureau score history and the account book.
with

customers as (

    select * from {{ ref('stg_masked__customers') }}

),

credit_checks as (

    select
        customer_id,
        count(*) as credit_checks,
        arg_min(credit_score, check_date) as first_credit_score,
        arg_max(credit_score, check_date) as latest_credit_score,
        max(check_date) as latest_credit_check_date

    from {{ ref('stg_raw__credit_scores') }}
    group by customer_id

),

accounts as (

    select
        customer_id,
        count(*) as accounts,
        count(*) filter (where account_status = 'Open') as open_accounts,
        -- liquid money the customer holds with the bank: savings and current accounts
        coalesce(sum(balance) filter (
            where account_status = 'Open' and account_type in ('Savings', 'Current')
        ), 0) as liquid_balance,
        coalesce(sum(balance) filter (
            where account_status = 'Open' and account_type in ('Deposit', 'Investment')
        ), 0) as invested_balance,
        coalesce(sum(balance) filter (
            where account_status = 'Open' and account_type in ('Credit Card', 'Loan')
        ), 0) as outstanding_credit,
        coalesce(bool_or(account_type = 'Credit Card' and account_status = 'Open'), false) as holds_credit_card,
        coalesce(bool_or(account_type = 'Loan' and account_status = 'Open'), false) as holds_loan

    from {{ ref('stg_raw__accounts') }}
    group by customer_id

),

final as (

    select
        customers.*,

        -- the bureau history wins over the KYC snapshot, which is only refreshed now and then
        coalesce(credit_checks.latest_credit_score, customers.cibil_score) as credit_score,
        coalesce(credit_checks.latest_credit_check_date, customers.cibil_check_date) as credit_score_date,
        credit_checks.first_credit_score,
        coalesce(credit_checks.credit_checks, 0) as credit_checks,
        coalesce(credit_checks.latest_credit_score - credit_checks.first_credit_score, 0) as credit_score_change,

        coalesce(accounts.accounts, 0) as accounts,
        coalesce(accounts.open_accounts, 0) as open_accounts,
        coalesce(accounts.liquid_balance, 0) as liquid_balance,
        coalesce(accounts.invested_balance, 0) as invested_balance,
        coalesce(accounts.outstanding_credit, 0) as outstanding_credit,
        coalesce(accounts.holds_credit_card, false) as holds_credit_card,
        coalesce(accounts.holds_loan, false) as holds_loan

    from customers
    left join credit_checks using (customer_id)
    left join accounts using (customer_id)

)

select * from final
