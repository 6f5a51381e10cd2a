select
    geography as geography_key,
    upper(area_code) as area_code,
    lsoa_code,
    cast(weight as double) as weight,
    basis
from
    {{ relation_or_empty('geography', 'geo_apportionment',
        ['area_code', 'lsoa_code', 'weight', 'geography', 'basis']) }}
