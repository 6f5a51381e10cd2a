select "lookup", "level", vintage, "source"
from {{ source('geography', 'geo_vintages') }}
