{#-
  The long harmonised fact that the audit marts read: one row per counted police.uk record
  (exact LSOA placement) and one row per LSOA share of every counted agency row (exact when the
  agency delivered LSOAs, apportioned by weights otherwise). `incidents` is 1 for an exact record
  and the apportioned share of the count otherwise; `method` and `weight` say how the row was
  placed. Only rows placed inside the region appear; int_agency_counts_placed keeps the rest.
-#}
select
    'police_uk_street' as dataset,
    'police' as agency_type,
    agency,
    crime_type as category,
    "month",
    lsoa_code,
    ward_code,
    partnership_code,
    'exact' as method,
    cast(1.0 as double) as weight,
    cast(1.0 as double) as incidents,
    -- police.uk snaps every record to a fixed anonymised point; the point identifies a location
    case
        when longitude is not null and latitude is not null
            then printf('%.6f,%.6f', longitude, latitude)
    end as location_key,
    location,
    source_file,
    row_number
from {{ ref('int_police_street_rows_classified') }}
where row_status = 'counted'

union all

select
    p.dataset,
    coalesce(a.agency_type, 'unknown') as agency_type,
    p.agency,
    p.category,
    p."month",
    p.lsoa_code,
    g.ward_code,
    p.partnership_code,
    p.method,
    p.weight,
    p.incidents,
    cast(null as varchar) as location_key,
    cast(null as varchar) as location,
    p.source_file,
    p.row_number
from {{ ref('int_agency_counts_placed') }} as p
inner join {{ ref('stg_geography__lsoas') }} as g using (lsoa_code)
left join {{ ref('stg_plan__agencies') }} as a using (agency)
where p.in_region
