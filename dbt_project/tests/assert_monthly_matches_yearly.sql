-- The yearly mart is the sum of the monthly mart.
with monthly as (
    select partnership_code, crime_type, sum(incidents) as incidents
    from {{ ref('partnership_crime_monthly') }}
    group by all
),

yearly as (
    select partnership_code, crime_type, sum(incidents) as incidents
    from {{ ref('partnership_crime_yearly') }}
    group by all
)

select *
from monthly full outer join yearly using (partnership_code, crime_type)
where monthly.incidents is distinct from yearly.incidents
