select
    c.partnership_code,
    p.partnership_name,
    c."month",
    c.crime_type,
    count(*) as incidents
from {{ ref('int_police_street_rows_classified') }} as c
inner join {{ ref('stg_geography__region_partnerships') }} as p
    on p.partnership_code = c.partnership_code
where c.row_status = 'counted'
group by all
order by c.partnership_code, c."month", c.crime_type
