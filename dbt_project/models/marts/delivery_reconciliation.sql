{#- One row per delivery of a plan agency dataset. A loaded one: every row read is counted, a
    duplicate, unlocated, quarantined, or superseded by a corrected re-delivery; and the incidents
    counted land inside or outside the region (apportionment conserves them). rows_placed_by_fallback
    counts the counted rows placed by the plan's fallback geography (an ED attendance by the patient's
    home area because the incident location was not coded). A wholly rejected one:
    the rows the gate read (null when the file could not be read as CSV at all), none counted, and
    why (rule, line, detail). -#}
with rows as (
    select
        dataset, agency, period, source_file, delivery_sha256,
        count(*) as rows_read,
        count(*) filter (where row_status = 'counted') as rows_counted,
        count(*) filter (where row_status = 'duplicate') as rows_duplicate,
        count(*) filter (where row_status = 'unlocated') as rows_unlocated,
        count(*) filter (where row_status = 'quarantined') as rows_quarantined,
        count(*) filter (where row_status = 'superseded') as rows_superseded,
        coalesce(sum(count_value) filter (where row_status = 'counted'), 0) as incidents_counted,
        count(*) filter (where row_status = 'counted' and by_fallback) as rows_placed_by_fallback
    from {{ ref('int_agency_rows_classified') }}
    group by all
),

placed as (
    select
        delivery_sha256,
        {{ exact_sum('incidents', "filter (where in_region)") }} as incidents_in_region,
        {{ exact_sum('incidents', "filter (where not in_region)") }} as incidents_outside_region
    from {{ ref('int_agency_counts_placed') }}
    group by all
)

select
    r.dataset,
    r.agency,
    r.period,
    r.source_file,
    d.received_at,
    d.is_current,
    'loaded' as outcome,
    cast(null as varchar) as rejected_because,
    r.rows_read,
    r.rows_counted,
    r.rows_duplicate,
    r.rows_unlocated,
    r.rows_quarantined,
    r.rows_superseded,
    cast(r.incidents_counted as double) as incidents_counted,
    round(coalesce(p.incidents_in_region, 0), 6) as incidents_in_region,
    round(coalesce(p.incidents_outside_region, 0), 6) as incidents_outside_region,
    r.rows_placed_by_fallback
from rows as r
inner join {{ ref('int_deliveries') }} as d using (delivery_sha256)
left join placed as p using (delivery_sha256)

union all

select
    v.dataset,
    v.agency,
    v.period,
    v.source_file,
    v.received_at,
    false as is_current,
    'rejected' as outcome,
    concat_ws(': ', 'rule ' || v.rule, 'line ' || v.line, v.detail) as rejected_because,
    v.rows_read,
    0 as rows_counted,
    0 as rows_duplicate,
    0 as rows_unlocated,
    0 as rows_quarantined,
    0 as rows_superseded,
    0.0 as incidents_counted,
    0.0 as incidents_in_region,
    0.0 as incidents_outside_region,
    0 as rows_placed_by_fallback
from {{ ref('stg_deliveries__validations') }} as v
where
    v.outcome = 'rejected'
    and v.dataset <> 'police_uk_street'
    and v.delivery_sha256 not in (select d.delivery_sha256 from {{ ref('int_deliveries') }} as d)
order by dataset, agency, period, received_at
