select
    dataset,
    scan_id,
    sha256 as delivery_sha256,
    agency,
    period,
    source_file
from {{ source('deliveries', 'landing_seen') }}
