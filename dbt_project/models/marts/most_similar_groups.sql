{#- The members of each region partnership's most similar group, with how the group was made:
    'published' (the region's groups file) or 'nearest neighbours on standardised <characteristics>'
    with each member's distance. comparisons compares each partnership with its group's rate. -#}
with names as (
    select partnership_code, any_value(partnership_name) as partnership_name
    from {{ ref('stg_geography__comparator_partnership_rates') }}
    group by partnership_code
),

region as (
    select partnership_code, partnership_name from {{ ref('stg_geography__region_partnerships') }}
)

select
    m.partnership_code,
    coalesce(r.partnership_name, n.partnership_name) as partnership_name,
    m.member_rank,
    m.member_code,
    coalesce(rm.partnership_name, nm.partnership_name) as member_name,
    cast(round(m.distance, 4) as double) as distance,
    m.method,
    cast(count(*) over (partition by m.partnership_code) as integer) as group_size
from {{ ref('int_most_similar_groups') }} as m
left join region as r on m.partnership_code = r.partnership_code
left join names as n on m.partnership_code = n.partnership_code
left join region as rm on m.member_code = rm.partnership_code
left join names as nm on m.member_code = nm.partnership_code
order by m.partnership_code, m.member_rank
