-- One row per PayScore screening group: its latest version, as the extraction upserts it by id.
-- Groups are organisational units, not people (see the masking policy), so staging reads raw.
-- settings stays whole as JSON; the fields analysis filters on are read out of it, and a field
-- the vendor leaves out (or sends as something else) becomes null rather than failing the build.
with

source as (

    select * from {{ source('raw', 'screening_group') }}

),

renamed as (

    select
        id as screening_group_id,
        organization_id,
        name as screening_group_name,
        description,
        status,
        member_count,

        -- the group's configuration
        settings,
        json_extract_string(settings, '$.verification_type') as verification_type,
        try_cast(json_extract_string(settings, '$.auto_approve_threshold') as double) as auto_approve_threshold,
        try_cast(json_extract_string(settings, '$.income_lookback_days') as integer) as income_lookback_days,

        timezone('UTC', created_at) as created_at,
        timezone('UTC', updated_at) as updated_at,
        timezone('UTC', _synced_at) as synced_at

    from source

)

select * from renamed
