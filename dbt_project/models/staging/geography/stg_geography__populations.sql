select
    lsoa_code,
    cast(population as bigint) as population,
    cast("year" as integer) as population_year,
    cast(households as bigint) as households,
    cast(aged_10_17 as bigint) as aged_10_17
from {{ source('geography', 'geo_populations') }}
