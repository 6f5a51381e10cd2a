-- Two routes to the same police figures agree: area_rates (from the harmonised fact, monthly
-- grid) and partnership_crime_yearly (from the classified rows), per partnership, crime type
-- and audit year, with the same months covered and rate.
with new_route as (
    select partnership_code, category as crime_type, audit_year, incidents, months_covered, rate_per_1000
    from {{ ref('area_rates') }}
    where
        area_type = 'partnership' and dataset = 'police_uk_street' and category <> 'All'
        and incidents > 0
)

select *
from new_route as n
full outer join {{ ref('partnership_crime_yearly') }} as o
    using (partnership_code, crime_type, audit_year)
where
    n.incidents is distinct from o.incidents
    or n.months_covered is distinct from o.months_covered
    or n.rate_per_1000 is distinct from o.rate_per_1000
