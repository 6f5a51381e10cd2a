select
    partnership_code,
    member_code
from {{ source('geography', 'comparator_groups') }}
