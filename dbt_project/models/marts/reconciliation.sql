{#- One row per police.uk delivery. A loaded (current) one: every row read is counted, a duplicate,
    unlocated, outside the region, or quarantined. A wholly rejected one (refused by the gate, never
    loaded): the rows the gate read (null when the file could not be read as CSV at all), none
    counted, and why (rule, line, detail), as audit.delivery_reconciliation gives agency deliveries. -#}
with loaded as (
    select
        source_file,
        delivery_sha256,
        count(*) as rows_read,
        count(*) filter (where row_status = 'counted') as rows_counted,
        count(*) filter (where row_status = 'duplicate') as rows_duplicate,
        count(*) filter (where row_status = 'unlocated') as rows_unlocated,
        count(*) filter (where row_status = 'outside_region') as rows_outside_region,
        count(*) filter (where row_status = 'quarantined') as rows_quarantined,
        count(*) filter (where row_status = 'counted' and restated_from is not null) as rows_restated
    from {{ ref('int_police_street_rows_classified') }}
    group by source_file, delivery_sha256
)

select
    l.source_file,
    l.rows_read,
    l.rows_counted,
    l.rows_duplicate,
    l.rows_unlocated,
    l.rows_outside_region,
    l.rows_quarantined,
    d.agency,
    d.period,
    d.received_at,
    l.delivery_sha256,
    'loaded' as outcome,
    cast(null as varchar) as rejected_because,
    l.rows_restated
from loaded as l
inner join {{ ref('int_deliveries') }} as d using (delivery_sha256)

union all

select
    v.source_file,
    v.rows_read,
    0 as rows_counted,
    0 as rows_duplicate,
    0 as rows_unlocated,
    0 as rows_outside_region,
    0 as rows_quarantined,
    v.agency,
    v.period,
    v.received_at,
    v.delivery_sha256,
    'rejected' as outcome,
    concat_ws(': ', 'rule ' || v.rule, 'line ' || v.line, v.detail) as rejected_because,
    0 as rows_restated
from {{ ref('stg_deliveries__validations') }} as v
where
    v.outcome = 'rejected'
    and v.dataset = 'police_uk_street'
    and v.delivery_sha256 not in (select d.delivery_sha256 from {{ ref('int_deliveries') }} as d)
order by source_file, outcome, received_at
