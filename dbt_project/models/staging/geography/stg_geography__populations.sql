select
    lsoa_code,
    cast(population as bigint) as population
from {{ source('geography', 'geo_populations') }}
