-- In area_rates a partnership's incidents equal the sum over its wards and over its LSOAs, and
-- its 'All' row equals the sum of its categories, for every dataset and audit year (to 0.01:
-- apportioned shares are rounded to 6 decimals per area and period).
with by_level as (
    select
        partnership_code, dataset, category, period_start,
        sum(incidents) filter (where area_type = 'partnership') as partnership_incidents,
        sum(incidents) filter (where area_type = 'ward') as ward_incidents,
        sum(incidents) filter (where area_type = 'lsoa') as lsoa_incidents
    from {{ ref('area_rates') }}
    group by all
),

categories as (
    select
        partnership_code, dataset, period_start,
        sum(partnership_incidents) filter (where category = 'All') as all_row,
        sum(partnership_incidents) filter (where category <> 'All') as category_sum
    from by_level
    group by all
)

select b.partnership_code, b.dataset, b.category, b.period_start, 'levels' as failure
from by_level as b
where
    abs(b.partnership_incidents - b.ward_incidents) > 0.01
    or abs(b.partnership_incidents - b.lsoa_incidents) > 0.01
union all
select c.partnership_code, c.dataset, 'All', c.period_start, 'categories'
from categories as c
where abs(c.all_row - c.category_sum) > 0.01
