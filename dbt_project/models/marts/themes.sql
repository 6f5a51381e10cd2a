{#- Multi-agency themes (seed theme_definitions) per partnership and audit year: one row per
    source dataset of the theme, side by side. Sources are never added together: the same
    incident can reach several agencies (an assault seen by the police and the emergency
    department), so the overlap is shown, not double counted. A source is present for a
    partnership and year when its dataset has data for that partnership in that year; an absent
    source has null incidents, not zero. sources_present and sources_absent list the theme's
    datasets on every row of the theme, partnership and year. -#}
with rated_categories as (
    select distinct dataset, category from {{ ref('area_rates') }}
),

-- a seed category is 'All' (the dataset's total) or a case-insensitive LIKE pattern matched
-- against the dataset's categories; a category matched by two rows is still counted once
matched_categories as (
    select distinct t.theme, t.dataset, r.category
    from {{ ref('theme_definitions') }} as t
    inner join rated_categories as r
        on
            r.dataset = t.dataset
            and case
                when t.category = 'All' then r.category = 'All'
                else r.category <> 'All' and r.category ilike t.category
            end
),

-- what each source of a theme counts, in the data's own words (never the seed's LIKE patterns)
theme_sources as (
    select
        d.theme,
        d.dataset,
        coalesce(string_agg(m.category, ', ' order by m.category), 'none delivered') as categories
    from (select distinct theme, dataset from {{ ref('theme_definitions') }}) as d
    left join matched_categories as m
        on m.theme = d.theme and m.dataset = d.dataset
    group by d.theme, d.dataset
),

theme_counts as (
    select r.partnership_code, r.period_start, m.theme, m.dataset, {{ exact_sum('r.incidents') }} as incidents
    from matched_categories as m
    inner join {{ ref('area_rates') }} as r
        on r.dataset = m.dataset and r.category = m.category
    where r.area_type = 'partnership'
    group by all
),

partnership_years as (
    select
        partnership_code,
        any_value(partnership_name) as partnership_name,
        period_start,
        any_value(audit_year) as audit_year,
        any_value(period_end) as period_end,
        any_value(population) as population
    from {{ ref('area_rates') }}
    where area_type = 'partnership'
    group by partnership_code, period_start
),

dataset_years as (
    select distinct partnership_code, dataset, period_start, months_covered
    from {{ ref('area_rates') }}
    where area_type = 'partnership'
),

sources as (
    select
        p.partnership_code,
        p.partnership_name,
        ts.theme,
        p.audit_year,
        p.period_start,
        p.period_end,
        ts.dataset,
        ts.categories,
        d.dataset is not null as source_present,
        d.months_covered,
        case when d.dataset is not null then coalesce(c.incidents, 0) end as incidents,
        p.population
    from partnership_years as p
    cross join theme_sources as ts
    left join dataset_years as d
        on
            d.partnership_code = p.partnership_code
            and d.dataset = ts.dataset
            and d.period_start = p.period_start
    left join theme_counts as c
        on
            c.partnership_code = p.partnership_code
            and c.period_start = p.period_start
            and c.theme = ts.theme
            and c.dataset = ts.dataset
)

select
    partnership_code,
    partnership_name,
    theme,
    audit_year,
    period_start,
    period_end,
    dataset,
    categories,
    source_present,
    cast(months_covered as integer) as months_covered,
    cast(incidents as double) as incidents,
    cast(round(1000.0 * incidents / nullif(population, 0), 3) as double) as rate_per_1000,
    coalesce(string_agg(dataset, ', ' order by dataset) filter (where source_present) over w, 'none')
        as sources_present,
    coalesce(string_agg(dataset, ', ' order by dataset) filter (where not source_present) over w, 'none')
        as sources_absent
from sources
window w as (partition by partnership_code, theme, period_start)
order by partnership_code, theme, period_start, source_present desc, dataset
