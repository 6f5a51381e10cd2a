{{ config(severity='warn') }}
-- A theme row that names a loaded dataset but matches none of its categories would show the
-- source as present with no incidents; warn so the seed theme_definitions gets corrected.
with loaded as (
    select distinct dataset, category from {{ ref('int_incidents_harmonised') }}
)

select t.theme, t.dataset, t.category
from {{ ref('theme_definitions') }} as t
where
    t.category <> 'All'
    and t.dataset in (select dataset from loaded)
    and not exists (
        select 1 from loaded as l
        where l.dataset = t.dataset and l.category ilike t.category
    )
