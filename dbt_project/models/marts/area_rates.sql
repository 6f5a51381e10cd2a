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
{%- set no_population = 'not every LSOA of the area has a population (none is set, or the file misses some): no rate' %}

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
        case when count(*) = count(p.households) then sum(p.households) end as households,
        case when count(*) = count(p.aged_10_17) then sum(p.aged_10_17) end as aged_10_17,
        min(p.population_year) as first_estimate,
        max(p.population_year) as last_estimate,
        bool_and(p.own_year) as own_year,
        count(p.population) > 0 and count(p.population_year) = 0 as undated
    from {{ ref('int_area_lsoas') }} as a
    cross join years as y
    left join {{ ref('int_lsoa_populations_by_year') }} as p
        on p.lsoa_code = a.lsoa_code and p.period_start = y.period_start
    group by a.area_type, a.area_code, a.partnership_code, y.period_start
),

-- the denominator each dataset and category is rated on beside residents (the most specific pattern)
denominators as (
    select c.dataset, c.category, any_value(d.denominator order by length(d.category_like) desc) as denominator
    from (select distinct dataset, category from yearly) as c
    inner join {{ ref('rate_denominators') }} as d
        on d.dataset = c.dataset and c.category ilike d.category_like
    group by c.dataset, c.category
),

rated as (
    select
        y.*,
        p.population,
        p.first_estimate,
        p.last_estimate,
        p.own_year,
        p.undated,
        case d.denominator
            when 'households' then 'households' when 'aged_10_17' then 'residents aged 10-17' else 'residents'
        end as rate_denominator,
        case d.denominator
            when 'households' then p.households
            when 'aged_10_17' then p.aged_10_17
            else p.population
        end as denominator
    from yearly as y
    left join populations as p
        on
            p.area_type = y.area_type
            and p.area_code = y.area_code
            and p.partnership_code = y.partnership_code
            and p.period_start = y.period_start
    left join denominators as d on d.dataset = y.dataset and d.category = y.category
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
    cast(y.population as bigint) as population,
    cast(round(1000.0 * y.incidents / nullif(y.population, 0), 3) as double) as rate_per_1000,
    cast(case when y.first_estimate = y.last_estimate then y.first_estimate end as integer) as population_year,
    case
        when y.population is null then '{{ no_population }}'
        when y.undated then 'one population serves every year (the population file gives no year)'
        when not y.own_year
            then
                'mid-' || y.first_estimate
                || case when y.last_estimate <> y.first_estimate then '-' || y.last_estimate else '' end
                || ' estimate, the nearest to this year (no estimate for mid-' || year(y.period_start) || ')'
    end as population_note,
    y.rate_denominator,
    cast(y.denominator as bigint) as denominator,
    cast(round(1000.0 * y.incidents / nullif(y.denominator, 0), 3) as double) as rate_per_1000_denominator,
    case
        when y.denominator is not null then null
        when y.rate_denominator = 'residents' then '{{ no_population }}'
        else
            'no ' || y.rate_denominator
            || ' figure for every LSOA of the area (the population file has no such column, or misses some): '
            || 'no rate on that denominator; rate_per_1000 is per resident'
    end as denominator_note
from rated as y
