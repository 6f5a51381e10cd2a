-- Hotspots, persistence and concentration only for datasets placed at point or LSOA level.
select h.mart, h.partnership_code, h.dataset
from (
    select 'hotspots' as mart, partnership_code, dataset from {{ ref('hotspots') }}
    union all
    select 'hotspot_persistence' as mart, partnership_code, dataset from {{ ref('hotspot_persistence') }}
    union all
    select 'concentration' as mart, partnership_code, dataset from {{ ref('concentration') }}
) as h
left join {{ ref('int_dataset_placement') }} as d
    on d.partnership_code = h.partnership_code and d.dataset = h.dataset
where not coalesce(d.placed_at_point_or_lsoa, false)
