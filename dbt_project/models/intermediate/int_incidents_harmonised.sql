{#-
  The long harmonised fact that the audit marts read: one row per counted police.uk record
  (exact LSOA placement; a record on another LSOA vintage: one row per share of the region's LSOAs) and one row per LSOA share of every counted agency row (exact when the
  agency delivered LSOAs, apportioned by weights otherwise). `incidents` is 1 for an exact record
  and the apportioned share of the count otherwise; `method` and `weight` say how the row was
  placed. Only rows placed inside the region appear; int_agency_counts_placed keeps the rest.
-#}
select
    'police_uk_street' as dataset,
    'police' as agency_type,
    p.agency,
    p.crime_type as category,
    p."month",
    coalesce(w.lsoa_code, p.lsoa_code) as lsoa_code,
    coalesce(g.ward_code, p.ward_code) as ward_code,
    coalesce(w.partnership_code, p.partnership_code) as partnership_code,
    coalesce(w.method, 'exact') as method,
    cast(coalesce(w.share, 1.0) as double) as weight,
    cast(coalesce(w.share, 1.0) as double) as incidents,
    -- police.uk snaps every record to a fixed anonymised point; the point identifies a location
    case
        when p.longitude is not null and p.latitude is not null
            then printf('%.6f,%.6f', p.longitude, p.latitude)
    end as location_key,
    p.location,
    p.source_file,
    p.row_number
from {{ ref('int_police_street_rows_classified') }} as p
-- a code of another LSOA vintage: its shares of the region's LSOAs (int_police_street_rows_classified)
left join {{ ref('int_apportionment_weights_normalised') }} as w
    on p.restated_from = w.geography_key and p.lsoa_code = w.area_code and w.in_region
left join {{ ref('stg_geography__lsoas') }} as g on w.lsoa_code = g.lsoa_code
where p.row_status = 'counted'

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
