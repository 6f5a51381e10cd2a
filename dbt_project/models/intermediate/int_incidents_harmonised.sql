{#-
  The long harmonised fact that the audit marts read: one row per counted incident (police.uk
  rows, exact LSOA placement) and, as agencies are added, one row per apportioned share of an
  aggregate count. `incidents` is 1 for an exact record and the apportioned share otherwise;
  `method` and `weight` say how the row was placed on the LSOA.
-#}
select
    'police_uk_street' as dataset,
    'police' as agency_type,
    force_slug as agency,
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
