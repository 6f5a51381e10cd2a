{#- Repeat locations per partnership, dataset, category ('All' included) and audit year: the
    share of located incidents that happened at a location with two or more incidents of that
    category (any category for 'All') in the same partnership and audit year. A location is
    int_incidents_harmonised.location_key; for police.uk that is the anonymised snap point, which
    stands for a street segment or a group of premises rather than one address, so repeats are
    repeat places, not necessarily repeat addresses. Incidents without a location key (apportioned
    counts, records without coordinates) are left out of the share and counted in
    incidents_without_location. On police.uk snap points the share is not meaningful: a snap point
    stands for a whole street segment or group of premises and gathers every record near it, so
    nearly every incident is at a "repeat" point whatever the pattern of repeat victimisation;
    location_type names the kind of location and share_meaningful is false there (the columns stay
    for the public contract; the pack does not present the share as a finding). -#}
with fact as (
    select
        partnership_code,
        dataset,
        category,
        {{ audit_year_start('"month"') }} as period_start,
        location_key,
        incidents
    from {{ ref('int_incidents_harmonised') }}
),

per_location as (
    select
        partnership_code,
        dataset,
        case when grouping(category) = 1 then 'All' else category end as category,
        period_start,
        location_key,
        {{ exact_sum('incidents') }} as incidents
    from fact
    where location_key is not null
    -- noqa: disable=PRS,LT02 (sqlfluff's DuckDB dialect does not parse grouping sets; to the end of the file)
    group by grouping sets (
        (partnership_code, dataset, period_start, location_key, category),
        (partnership_code, dataset, period_start, location_key)
    )
),

per_year as (
    select
        partnership_code,
        dataset,
        category,
        period_start,
        count(*) as locations,
        count(*) filter (where incidents >= 2) as repeat_locations,
        {{ exact_sum('incidents') }} as located_incidents,
        coalesce({{ exact_sum('incidents', "filter (where incidents >= 2)") }}, 0) as incidents_at_repeat_locations,
        max(incidents) as most_incidents_at_one_location
    from per_location
    group by all
)

select
    r.partnership_code,
    r.partnership_name,
    r.dataset,
    r.category,
    r.audit_year,
    r.period_start,
    r.period_end,
    r.months_covered,
    r.incidents,
    cast(r.incidents - coalesce(y.located_incidents, 0) as double) as incidents_without_location,
    cast(coalesce(y.locations, 0) as bigint) as locations,
    cast(coalesce(y.repeat_locations, 0) as bigint) as repeat_locations,
    cast(coalesce(y.incidents_at_repeat_locations, 0) as double) as incidents_at_repeat_locations,
    cast(round(y.incidents_at_repeat_locations / nullif(y.located_incidents, 0), 4) as double)
        as share_at_repeat_locations,
    cast(y.most_incidents_at_one_location as double) as most_incidents_at_one_location,
    case
        when r.dataset = 'police_uk_street' then 'police.uk snap point'
        when y.locations > 0 then 'location key'
    end as location_type,
    coalesce(r.dataset <> 'police_uk_street' and y.locations > 0, false) as share_meaningful
from {{ ref('area_rates') }} as r
left join per_year as y
    on
        y.partnership_code = r.partnership_code
        and y.dataset = r.dataset
        and y.category = r.category
        and y.period_start = r.period_start
where r.area_type = 'partnership'
order by r.partnership_code, r.dataset, r.category, r.period_start
