select cast(group_size as integer) as group_size
from {{ source('geography', 'comparator_settings') }}
