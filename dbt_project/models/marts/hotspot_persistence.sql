{#- For every LSOA of the region: in how many audit years it was in its partnership's top 10%
    of LSOAs (as in hotspots.in_top_10_percent), per dataset and category. incomplete_data names the
    audit years of the partnership with no accepted delivery from an agency for a month (agency and
    month), whose ranks are made from short counts. -#}
select
    partnership_code,
    any_value(partnership_name) as partnership_name,
    dataset,
    category,
    area_code as lsoa_code,
    any_value(area_name) as lsoa_name,
    any_value(ward_code) as ward_code,
    cast(count(*) as integer) as audit_years,
    cast(count(*) filter (where in_top_10_percent) as integer) as years_in_top_10_percent,
    string_agg(audit_year, ', ' order by period_start) filter (where in_top_10_percent)
        as audit_years_in_top_10_percent,
    count(*) >= 2 and count(*) = count(*) filter (where in_top_10_percent) as in_top_10_percent_every_year,
    cast({{ exact_sum('incidents') }} as double) as incidents,
    string_agg(audit_year || ': ' || incomplete_data, '; ' order by period_start) as incomplete_data
from {{ ref('int_area_ranks') }}
where area_type = 'lsoa'
group by partnership_code, dataset, category, area_code
order by partnership_code, dataset, category, years_in_top_10_percent desc, lsoa_code
