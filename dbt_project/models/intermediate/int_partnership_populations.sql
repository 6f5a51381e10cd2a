{#- Resident population per partnership. Null unless every LSOA of the partnership has a
    population, so a rate is never computed on a partial denominator. -#}
select
    p.partnership_code,
    case
        when count(*) = count(pop.population) and count(*) > 0 then sum(pop.population)
    end as population,
    count(*) as lsoas,
    count(pop.population) as lsoas_with_population
from {{ ref('stg_geography__region_partnerships') }} as p
inner join {{ ref('stg_geography__lsoas') }} as l
    on l.partnership_code = p.partnership_code
left join {{ ref('stg_geography__populations') }} as pop
    on pop.lsoa_code = l.lsoa_code
group by p.partnership_code
