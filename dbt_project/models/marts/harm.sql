{#- Crime severity (harm) per partnership, dataset and audit year, with each category's
    contribution: weighted_incidents = incidents x weight from the seed crime_severity_weights
    (ONS Crime Severity Score units). Two scales are given: severity_score = weighted incidents
    per resident, the scale ONS publishes the CSS on (England 2017/18: 13.3), and
    weighted_incidents_per_1000 = the same per 1,000 residents (1,000 times larger). The row with
    category 'All' is the total over the categories that have a weight; categories without a
    weight are left out (the test assert_every_police_category_has_severity_weight warns). Only
    police.uk data is weighed: the Crime Severity Score is a measure of police recorded crime,
    and other agencies' records of the same events would count them twice. -#}
with weighted as (
    select
        r.partnership_code,
        r.partnership_name,
        r.dataset,
        r.category,
        r.audit_year,
        r.period_start,
        r.period_end,
        r.months_covered,
        r.population,
        r.incidents,
        w.weight,
        r.incidents * w.weight as weighted_incidents
    from {{ ref('area_rates') }} as r
    inner join {{ ref('crime_severity_weights') }} as w
        on w.category = r.category
    where r.area_type = 'partnership'
    -- the weights are for police.uk crime types: other agencies' categories are not weighed
    and r.dataset = 'police_uk_street'
),

with_total as (
    select * from weighted
    union all
    select
        partnership_code,
        any_value(partnership_name),
        dataset,
        'All',
        any_value(audit_year),
        period_start,
        any_value(period_end),
        any_value(months_covered),
        any_value(population),
        {{ exact_sum('incidents') }},
        null,
        sum(weighted_incidents)
    from weighted
    group by partnership_code, dataset, period_start
)

select
    partnership_code,
    partnership_name,
    dataset,
    category,
    audit_year,
    period_start,
    period_end,
    months_covered,
    population,
    incidents,
    cast(weight as double) as weight,
    cast(weighted_incidents as double) as weighted_incidents,
    cast(round(weighted_incidents / nullif(population, 0), 4) as double) as severity_score,
    cast(round(1000.0 * weighted_incidents / nullif(population, 0), 3) as double) as weighted_incidents_per_1000,
    cast(round(
        weighted_incidents / nullif(sum(weighted_incidents) filter (where category <> 'All') over w, 0), 4
    ) as double) as share_of_severity,
    cast(round(
        incidents / nullif({{ exact_sum('incidents', "filter (where category <> 'All') over w") }}, 0), 4
    ) as double) as share_of_incidents
from with_total
window w as (partition by partnership_code, dataset, period_start)
order by partnership_code, dataset, period_start, category = 'All' desc, weighted_incidents desc
