{#- The LSOAs and wards with most incidents in each partnership, per dataset, category and audit
    year: the top 10 or the top 10% of the partnership's areas, whichever is more (ties at the
    cut-off included), counting only areas with at least one incident. incomplete_data names the
    agencies and months of the partnership's year with no accepted delivery: the areas they serve
    are short, so those ranks are marked, not findings. -#}
select
    partnership_code,
    partnership_name,
    dataset,
    category,
    audit_year,
    period_start,
    period_end,
    months_covered,
    area_type,
    area_code,
    area_name,
    ward_code,
    cast(incident_rank as integer) as hotspot_rank,
    incidents,
    population,
    rate_per_1000,
    cast(round(incidents / partnership_incidents, 4) as double) as share_of_partnership_incidents,
    cast(areas_in_partnership as integer) as areas_in_partnership,
    top_10_percent_size,
    in_top_10_percent,
    incomplete_data
from {{ ref('int_area_ranks') }}
where
    incidents > 0
    and incident_rank <= greatest(10, top_10_percent_size)
order by partnership_code, dataset, category, period_start, area_type, incident_rank, area_code
