select
    sha256 as delivery_sha256,
    row_number,
    rule
from {{ source('deliveries', 'delivery_row_failures') }}
