{#- The resident population of each LSOA for each audit year the fact covers: the mid-year
    estimate of the year the audit year starts in (mid-2021 for 2021/22), else the nearest year's
    (the earlier on a tie), flagged; a population file without years serves every year, flagged
    too. population_year is the estimate's year (null for a file without years). households and
    aged_10_17 (residents aged 10-17) come from the same estimate's row, null where it has none. -#}
with estimates as (
    select lsoa_code, population, population_year, households, aged_10_17
    from {{ ref('stg_geography__populations') }}
),

years as (
    select distinct cast({{ audit_year_start('"month"') }} as date) as period_start
    from {{ ref('int_incidents_harmonised') }}
)

select
    e.lsoa_code,
    y.period_start,
    e.population,
    e.population_year,
    e.population_year = year(y.period_start) as own_year,
    e.households,
    e.aged_10_17
from estimates as e
cross join years as y
qualify row_number() over (
    partition by e.lsoa_code, y.period_start
    order by abs(e.population_year - year(y.period_start)) nulls last, e.population_year
) = 1
