select
    partnership_code,
    partnership_name,
    dataset,
    category,
    cast(period_start as date) as period_start,
    cast(incidents as double) as incidents,
    cast(population as double) as population
from {{ source('geography', 'comparator_partnership_rates') }}
