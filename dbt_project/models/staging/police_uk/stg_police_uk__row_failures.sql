select
    sha256 as delivery_sha256,
    row_number,
    rule
from {{ source('police_uk', 'police_row_failures') }}
