{#- Counts and rates per 1,000 residents per area, dataset, category ('All' included) and audit
    year, summed from area_monthly so the two always agree. months_covered counts the months of
    the audit year in which the dataset has data for the area's partnership (a quarter of a
    quarterly dataset counts as its three months). The population is the resident population of
    the area's LSOAs for the audit year (int_lsoa_populations_by_year: the year's own mid-year
    estimate, else the nearest, said in population_note), null unless every LSOA has a figure.

    Built by audit year (macros/incremental_by_year.sql): a refresh rebuilds only the years whose
    months or populations changed. Rows are not sorted (rebuilt years are appended); readers order
    what they read (the packs read it by partnership, area, dataset, category and year). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_changed_years(ref('area_monthly')) }}",
    post_hook="{{ save_years_built_from(ref('area_monthly')) }}",
) }}

-- depends_on: {{ ref('int_incidents_harmonised') }}

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
    where {{ only_changed_years('period_start') }}
    group by area_type, area_code, partnership_code, dataset, category, period_start
),

years as (
    select distinct period_start from yearly
),

populations as (
    select
        a.area_type,
        a.area_code,
        a.partnership_code,
        y.period_start,
        case when count(*) = count(p.population) then sum(p.population) end as population,
        min(p.population_year) as first_estimate,
        max(p.population_year) as last_estimate,
        bool_and(p.own_year) as own_year,
        count(p.population) > 0 and count(p.population_year) = 0 as undated
    from {{ ref('int_area_lsoas') }} as a
    cross join years as y
    left join {{ ref('int_lsoa_populations_by_year') }} as p
        on p.lsoa_code = a.lsoa_code and p.period_start = y.period_start
    group by a.area_type, a.area_code, a.partnership_code, y.period_start
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
    cast(round(1000.0 * y.incidents / nullif(p.population, 0), 3) as double) as rate_per_1000,
    cast(case when p.first_estimate = p.last_estimate then p.first_estimate end as integer) as population_year,
    case
        when p.population is null
            then 'not every LSOA of the area has a population (none is set, or the file misses some): no rate'
        when p.undated then 'one population serves every year (the population file gives no year)'
        when not p.own_year
            then
                'mid-' || p.first_estimate
                || case when p.last_estimate <> p.first_estimate then '-' || p.last_estimate else '' end
                || ' estimate, the nearest to this year (no estimate for mid-' || year(y.period_start) || ')'
    end as population_note
from yearly as y
left join populations as p
    on
        p.area_type = y.area_type
        and p.area_code = y.area_code
        and p.partnership_code = y.partnership_code
        and p.period_start = y.period_start
