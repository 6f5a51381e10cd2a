select
    dataset,
    scan_id,
    scanned_at
from {{ source('deliveries', 'landing_scans') }}
