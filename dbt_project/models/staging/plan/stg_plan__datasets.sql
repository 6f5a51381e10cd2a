select
    dataset, geography, cast(geography_vintage as integer) as geography_vintage, geography_key,
    time_grain, cadence, sharing_level, cast(min_cell_size as integer) as min_cell_size, rounding,
    fallback_geography_key
from {{ relation_or_empty('plan', 'plan_datasets',
    ['dataset', 'geography', 'geography_vintage', 'geography_key', 'time_grain', 'cadence', 'sharing_level',
     'min_cell_size', 'rounding', 'fallback_geography_key']) }}
