-- One row per customer: the latest version from the masked KYC master. Only non-identifying
-- attributes and the email token (a join key) go downstream; names, phone and address stay behind.
with

source as (

    select * from {{ source('masked', 'customers') }}

),

latest as (

    -- masked.customers is already one row per customer; keep the latest version anyway, so a
    -- masking run that appends versions cannot fan out every downstream join.
    select * from source
    qualify row_number() over (partition by customer_id order by modified_at desc) = 1

),

renamed as (

    select
        customer_id,

        -- profile
        gender,
        is_minor,
        is_senior_citizen,
        marital_status,
        nationality,
        occupation,

        -- relationship with the bank
        segment,
        category as residency_category,
        privilege as privilege_tier,
        customer_type,
        sourcing_channel,
        status as customer_status,
        risk_category,
        affluence_level,

        -- location at city granularity (the street address is PII and not selected)
        city,
        state,
        country,

        email as email_token,

        -- credit bureau; the bureau range is 300-900, anything else is a source defect
        case when cibil_score between 300 and 900 then cibil_score end as cibil_score,
        cibil_check_date,

        timezone('UTC', created_at) as created_at,
        timezone('UTC', modified_at) as modified_at

    from latest

)

select * from renamed
