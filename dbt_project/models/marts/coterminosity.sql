{#- How much of each partnership's figure per dataset rests on an exact placement, how much was
    apportioned (and how much of that crossed a partnership boundary), and how much of the
    delivering agencies' data could not be placed at all (unlocated: no LSOA or an unknown area).
    The unlocated share is the delivering agencies' share, since an unplaced row has no partnership. -#}
with fact as (
    select partnership_code, dataset, agency, method, incidents
    from {{ ref('int_incidents_harmonised') }}
),

per_partnership as (
    select
        partnership_code, dataset,
        {{ exact_sum('incidents') }} as incidents,
        {{ exact_sum('incidents', "filter (where method = 'exact')") }} as exact_incidents
    from fact
    group by all
),

crossing as (
    select partnership_code, dataset, {{ exact_sum('incidents') }} as crossing_incidents
    from {{ ref('int_agency_counts_placed') }}
    where in_region and not area_in_one_partnership
    group by all
),

agency_rows as (
    select
        'police_uk_street' as dataset, agency,
        count(*) filter (where row_status = 'unlocated') as unlocated,
        count(*) filter (where row_status in ('counted', 'unlocated', 'outside_region')) as placeable_or_not
    from {{ ref('int_police_street_rows_classified') }}
    group by all
    union all
    select
        dataset, agency,
        count(*) filter (where row_status = 'unlocated'),
        count(*) filter (where row_status in ('counted', 'unlocated'))
    from {{ ref('int_agency_rows_classified') }}
    group by all
),

partnership_agencies as (
    select distinct partnership_code, dataset, agency from fact
),

unlocated as (
    select
        pa.partnership_code, pa.dataset,
        sum(a.unlocated) / nullif(sum(a.placeable_or_not), 0) as share_unlocated
    from partnership_agencies as pa
    inner join agency_rows as a using (dataset, agency)
    group by all
)

select
    p.partnership_code,
    rp.partnership_name,
    p.dataset,
    round(p.incidents, 3) as incidents,
    round(coalesce(p.exact_incidents, 0) / p.incidents, 4) as share_exact,
    round(1 - coalesce(p.exact_incidents, 0) / p.incidents, 4) as share_apportioned,
    round(coalesce(c.crossing_incidents, 0) / p.incidents, 4) as share_apportioned_across_boundaries,
    round(coalesce(u.share_unlocated, 0), 4) as share_unlocated
from per_partnership as p
inner join {{ ref('stg_geography__region_partnerships') }} as rp using (partnership_code)
left join crossing as c using (partnership_code, dataset)
left join unlocated as u using (partnership_code, dataset)
where p.incidents > 0
order by p.partnership_code, p.dataset
