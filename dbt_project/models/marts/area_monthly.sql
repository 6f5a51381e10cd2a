{#- Monthly counts per area (partnership, ward, LSOA), dataset and category, 'All' included.
    A row exists for every area, category of the dataset and period in which the dataset has at
    least one incident in the area's partnership (a covered period), so a missing combination is
    never silently a zero: zeros are written out, uncovered periods are absent. A period is a
    month, except for datasets the data plan delivers by quarter or year (time_grain), whose
    rows sit on the period's first month and span months_in_period months.

    Built by month (macros/incremental_by_month.sql): a refresh rebuilds only the months whose
    harmonised fact changed, and every month when the areas, grains, categories or this SQL did.
    Rows are not sorted: months are appended as they are rebuilt, so no order could be kept, and the
    sort of a national table (about 100 million rows over three years) spilled to disk; readers
    order what they read (the packs read it by partnership, area, dataset, category and month). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_changed_months() }}",
    post_hook="{{ save_built_from() }}",
) }}

-- depends_on: {{ ref('stg_geography__lsoas') }}
-- depends_on: {{ ref('stg_geography__region_partnerships') }}

with fact_all as (
    select dataset, category, partnership_code, lsoa_code, "month", incidents
    from {{ ref('int_incidents_harmonised') }}
),

fact as (
    select * from fact_all
    where {{ only_changed_months('cast("month" as date)') }}
),

areas as (
    select
        area_type,
        area_code,
        partnership_code,
        any_value(area_name) as area_name,
        any_value(ward_code) as ward_code,
        any_value(partnership_name) as partnership_name
    from {{ ref('int_area_lsoas') }}
    group by area_type, area_code, partnership_code
),

covered_months as (
    select distinct dataset, partnership_code, "month" from fact
),

grains as (
    select
        dataset,
        max(case time_grain when 'quarter' then 3 when 'year' then 12 else 1 end) as months_in_period
    from {{ ref('stg_plan__datasets') }}
    group by dataset
),

categories as (
    select distinct dataset, category from fact_all
    union all
    select distinct dataset, 'All' from fact_all
),

lsoa_counts as (
    select dataset, category, lsoa_code, "month", {{ exact_sum('incidents') }} as incidents
    from fact
    group by all
),

area_counts as (
    select
        a.area_type,
        a.area_code,
        a.partnership_code,
        c.dataset,
        case when grouping(c.category) = 1 then 'All' else c.category end as category,
        c."month",
        {{ exact_sum('c.incidents') }} as incidents
    from lsoa_counts as c
    inner join {{ ref('int_area_lsoas') }} as a
        on a.lsoa_code = c.lsoa_code
    -- noqa: disable=PRS,LT02 (sqlfluff's DuckDB dialect does not parse grouping sets; to the end of the file)
    group by grouping sets (
        (a.area_type, a.area_code, a.partnership_code, c.dataset, c."month", c.category),
        (a.area_type, a.area_code, a.partnership_code, c.dataset, c."month")
    )
)

select
    a.area_type,
    a.area_code,
    a.area_name,
    a.ward_code,
    a.partnership_code,
    a.partnership_name,
    k.dataset,
    k.category,
    cast(m."month" as date) as "month",
    {{ audit_year_label(audit_year_start('m."month"')) }} as audit_year,
    cast({{ audit_year_start('m."month"') }} as date) as period_start,
    cast(coalesce(g.months_in_period, 1) as integer) as months_in_period,
    cast(round(coalesce(n.incidents, 0), 6) as double) as incidents
from areas as a
inner join covered_months as m
    on m.partnership_code = a.partnership_code
left join grains as g
    on g.dataset = m.dataset
inner join categories as k
    on k.dataset = m.dataset
left join area_counts as n
    on
        n.area_type = a.area_type
        and n.area_code = a.area_code
        and n.partnership_code = a.partnership_code
        and n.dataset = k.dataset
        and n.category = k.category
        and n."month" = m."month"
