{{ config(meta={'dagster': {'ref': {'name': 'recommendation_records'}}}) }}

-- A recommendation whose latest version is a tombstone is gone from every mart.
with

deleted as (

    select record_id
    from {{ source('masked', 'fpr_records') }}
    qualify row_number() over (partition by record_id order by updated_at desc) = 1
        and coalesce(_deleted, false)

)

select recommendations.record_id
from {{ ref('recommendation_records') }} as recommendations
inner join deleted using (record_id)
