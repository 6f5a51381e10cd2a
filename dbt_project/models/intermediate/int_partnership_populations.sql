{#- Resident population per partnership and audit year (int_lsoa_populations_by_year). Null
    unless every LSOA of the partnership has a population, so a rate is never computed on a
    partial denominator. -#}
with lsoas as (
    select l.lsoa_code, l.partnership_code
    from {{ ref('stg_geography__region_partnerships') }} as p
    inner join {{ ref('stg_geography__lsoas') }} as l
        on l.partnership_code = p.partnership_code
),

years as (
    select distinct period_start from {{ ref('int_lsoa_populations_by_year') }}
)

select
    l.partnership_code,
    y.period_start,
    case
        when count(*) = count(pop.population) and count(*) > 0 then sum(pop.population)
    end as population,
    count(*) as lsoas,
    count(pop.population) as lsoas_with_population
from lsoas as l
cross join years as y
left join {{ ref('int_lsoa_populations_by_year') }} as pop
    on pop.lsoa_code = l.lsoa_code and pop.period_start = y.period_start
group by l.partnership_code, y.period_start
