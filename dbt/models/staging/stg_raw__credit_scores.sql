with

source as (

    select * from {{ source('raw', 'credit_scores') }}

),

renamed as (

    select
        customer_id || ':' || strftime(check_date, '%Y-%m-%d') as credit_check_id,
        customer_id,
        check_date,
        score as credit_score,
        bureau

    from source

)

select * from renamed
