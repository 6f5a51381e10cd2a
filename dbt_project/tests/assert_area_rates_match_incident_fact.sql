-- Every incident of the harmonised fact is in area_rates once: the partnership 'All' rows hold
-- the fact's total per partnership, dataset and audit year, and nothing else.
with fact as (
    select
        partnership_code,
        dataset,
        {{ audit_year_start('"month"') }} as period_start,
        sum(incidents) as incidents
    from {{ ref('int_incidents_harmonised') }}
    group by all
),

rates as (
    select partnership_code, dataset, period_start, incidents
    from {{ ref('area_rates') }}
    where area_type = 'partnership' and category = 'All'
)

select *
from fact as f
full outer join rates as r using (partnership_code, dataset, period_start)
where
    f.incidents is null
    or r.incidents is null
    or abs(f.incidents - r.incidents) > 0.01
