{#- Every delivery verdict of every dataset (police.uk and the plan's agencies) with its row
    accounting, one shape, for the data-quality marts and the feedback to agencies. -#}
with classified as (
    select delivery_sha256, row_status from {{ ref('int_police_street_rows_classified') }}
    union all
    select delivery_sha256, row_status from {{ ref('int_agency_rows_classified') }}
),

row_counts as (
    select
        delivery_sha256,
        count(*) as rows_read,
        count(*) filter (where row_status = 'quarantined') as rows_quarantined,
        count(*) filter (where row_status = 'duplicate') as rows_duplicate,
        count(*) filter (where row_status = 'unlocated') as rows_unlocated
    from classified
    group by all
)

select
    v.dataset,
    v.agency,
    v.period,
    v.source_file,
    v.delivery_sha256,
    v.outcome,
    v.rule,
    v.line,
    v.detail,
    v.warnings,
    coalesce(d.is_current, false) as is_current,
    coalesce(r.rows_read, v.rows_read) as rows_read,
    coalesce(r.rows_quarantined, 0) as rows_quarantined,
    coalesce(r.rows_duplicate, 0) as rows_duplicate,
    coalesce(r.rows_unlocated, 0) as rows_unlocated
from {{ ref('stg_deliveries__validations') }} as v
left join {{ ref('int_deliveries') }} as d using (delivery_sha256)
left join row_counts as r using (delivery_sha256)
