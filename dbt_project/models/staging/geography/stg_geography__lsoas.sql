select
    lsoa_code,
    lsoa_name,
    ward_code,
    ward_name,
    lad_code,
    lad_name,
    nullif(csp_code, '') as partnership_code,
    nullif(csp_name, '') as partnership_name,
    nullif(pfa_code, '') as pfa_code,
    nullif(pfa_name, '') as pfa_name,
    cast(in_region as boolean) as in_region,
    resolution
from {{ source('geography', 'geo_lsoas') }}
