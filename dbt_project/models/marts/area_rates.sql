{#- Counts and rates per 1,000 residents per area, dataset, category ('All' included) and audit
    year, summed from area_monthly so the two always agree. months_covered counts the months of
    the audit year in which the dataset has data for the area's partnership (a quarter of a
    quarterly dataset counts as its three months). The population is
    the resident population of the area's LSOAs, null unless every one of them has a figure. -#}
with yearly as (
    select
        area_type,
        area_code,
        partnership_code,
        dataset,
        category,
        period_start,
        any_value(area_name) as area_name,
        any_value(ward_code) as ward_code,
        any_value(partnership_name) as partnership_name,
        any_value(audit_year) as audit_year,
        sum(months_in_period) as months_covered,
        round({{ exact_sum('incidents') }}, 6) as incidents
    from {{ ref('area_monthly') }}
    group by area_type, area_code, partnership_code, dataset, category, period_start
),

populations as (
    select
        a.area_type,
        a.area_code,
        a.partnership_code,
        case when count(*) = count(p.population) then sum(p.population) end as population
    from {{ ref('int_area_lsoas') }} as a
    left join {{ ref('stg_geography__populations') }} as p
        on p.lsoa_code = a.lsoa_code
    group by a.area_type, a.area_code, a.partnership_code
)

select
    y.area_type,
    y.area_code,
    y.area_name,
    y.ward_code,
    y.partnership_code,
    y.partnership_name,
    y.dataset,
    y.category,
    y.audit_year,
    y.period_start,
    cast(y.period_start + interval 1 year - interval 1 day as date) as period_end,
    cast(y.months_covered as integer) as months_covered,
    cast(y.incidents as double) as incidents,
    cast(p.population as bigint) as population,
    cast(round(1000.0 * y.incidents / nullif(p.population, 0), 3) as double) as rate_per_1000
from yearly as y
left join populations as p
    on
        p.area_type = y.area_type
        and p.area_code = y.area_code
        and p.partnership_code = y.partnership_code
order by y.partnership_code, y.area_type, y.area_code, y.dataset, y.category, y.period_start
