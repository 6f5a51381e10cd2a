{#- How concentrated incidents are in a partnership's LSOAs: the share of its incidents in its
    top 10% of LSOAs (ceil(10% of all its LSOAs), LSOAs with no incident included), per dataset,
    category and audit year. An even spread would give about even_spread_share. incomplete_data
    names the agencies and months of the partnership's year with no accepted delivery (the share is
    then made from short counts). -#}
select
    partnership_code,
    any_value(partnership_name) as partnership_name,
    dataset,
    category,
    any_value(audit_year) as audit_year,
    period_start,
    any_value(period_end) as period_end,
    any_value(months_covered) as months_covered,
    cast(count(*) as integer) as lsoas,
    cast(count(*) filter (where incidents > 0) as integer) as lsoas_with_incidents,
    any_value(top_10_percent_size) as top_lsoas,
    cast({{ exact_sum('incidents') }} as double) as incidents,
    cast(coalesce({{ exact_sum('incidents', "filter (where \"position\" <= top_10_percent_size)") }}, 0) as double)
        as top_lsoa_incidents,
    cast(round(
        {{ exact_sum('incidents', "filter (where \"position\" <= top_10_percent_size)") }}
        / nullif({{ exact_sum('incidents') }}, 0), 4
    ) as double) as share_in_top_10_percent,
    cast(round(any_value(top_10_percent_size) / count(*), 4) as double) as even_spread_share,
    any_value(incomplete_data) as incomplete_data
from {{ ref('int_area_ranks') }}
where area_type = 'lsoa'
group by partnership_code, dataset, category, period_start
order by partnership_code, dataset, category, period_start
