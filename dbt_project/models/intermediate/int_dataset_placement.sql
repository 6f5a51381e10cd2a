{#- How each dataset's incidents in each partnership were placed on LSOAs, over every year loaded:
    police.uk records at an anonymised point (inside one LSOA), agency rows delivered on LSOAs
    exactly, and agency rows delivered on wards, councils or other areas apportioned by weights
    (int_incidents_harmonised.method). A dataset is placed at point or LSOA level in a partnership
    when at least 90% of its incidents there were placed exactly; only such datasets are ranked
    by area (int_area_ranks: hotspots, hotspot_persistence, concentration, the concentration of
    priority_scores), because the LSOA pattern of an apportioned count only mirrors the weights
    (population) it was spread with. Apportioned datasets stay in area_rates and area_monthly at
    the level they were delivered. -#}
with placed as (
    select
        dataset,
        partnership_code,
        {{ exact_sum('incidents') }} as incidents,
        coalesce({{ exact_sum('incidents', "filter (where method = 'exact')") }}, 0) as incidents_placed_exactly,
        bool_or(location_key is not null) as has_points
    from {{ ref('int_incidents_harmonised') }}
    group by dataset, partnership_code
)

select
    dataset,
    partnership_code,
    cast(incidents as double) as incidents,
    cast(incidents_placed_exactly as double) as incidents_placed_exactly,
    cast(round(incidents_placed_exactly / nullif(incidents, 0), 4) as double) as share_placed_exactly,
    case
        when incidents_placed_exactly >= 0.9 * incidents and has_points then 'point'
        when incidents_placed_exactly >= 0.9 * incidents then 'lsoa'
        when incidents_placed_exactly = 0 then 'apportioned'
        else 'mostly apportioned'
    end as placement,
    coalesce(incidents_placed_exactly >= 0.9 * incidents, false) as placed_at_point_or_lsoa
from placed
