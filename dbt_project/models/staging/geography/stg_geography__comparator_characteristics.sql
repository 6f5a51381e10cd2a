select
    partnership_code,
    characteristic,
    cast(value as double) as characteristic_value
from {{ source('geography', 'comparator_characteristics') }}
