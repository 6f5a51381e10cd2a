select
    lsoa_code,
    cast(population as bigint) as population,
    cast("year" as integer) as population_year
from {{ source('geography', 'geo_populations') }}
