{#- Every delivery verdict of every dataset (police.uk and the plan's agencies) with its row
    accounting, one shape, for the data-quality marts and the feedback to agencies. -#}
with police_rows as (
    select delivery_sha256,
           count(*) as rows_read,
           count(*) filter (where row_status = 'quarantined') as rows_quarantined,
           count(*) filter (where row_status = 'duplicate') as rows_duplicate,
           count(*) filter (where row_status = 'unlocated') as rows_unlocated
    from {{ ref('int_police_street_rows_classified') }}
    group by all
),
police as (
    select
        v.dataset, v.agency, v.period, v.source_file, v.delivery_sha256,
        v.outcome, v.rule, v.line, v.detail, v.warnings,
        coalesce(d.is_current, false) as is_current,
        coalesce(r.rows_read, v.rows_read) as rows_read,
        coalesce(r.rows_quarantined, 0) as rows_quarantined,
        coalesce(r.rows_duplicate, 0) as rows_duplicate,
        coalesce(r.rows_unlocated, 0) as rows_unlocated
    from {{ ref('stg_deliveries__validations') }} as v
    left join {{ ref('int_deliveries') }} as d using (delivery_sha256)
    left join police_rows as r using (delivery_sha256)
    where v.dataset = 'police_uk_street'
),
agency_rows as (
    select delivery_sha256,
           count(*) as rows_read,
           count(*) filter (where row_status = 'quarantined') as rows_quarantined,
           count(*) filter (where row_status = 'duplicate') as rows_duplicate,
           count(*) filter (where row_status = 'unlocated') as rows_unlocated
    from {{ ref('int_agency_rows_classified') }}
    group by all
),
agencies as (
    select
        v.dataset, v.agency, v.period, v.source_file, v.delivery_sha256,
        v.outcome, v.rule, v.line, v.detail, v.warnings,
        coalesce(d.is_current, false) as is_current,
        coalesce(r.rows_read, v.rows_read) as rows_read,
        coalesce(r.rows_quarantined, 0), coalesce(r.rows_duplicate, 0), coalesce(r.rows_unlocated, 0)
    from {{ ref('stg_deliveries__validations') }} as v
    left join {{ ref('int_deliveries') }} as d using (delivery_sha256)
    left join agency_rows as r using (delivery_sha256)
    where v.dataset <> 'police_uk_street'
)
select * from police
union all
select * from agencies
