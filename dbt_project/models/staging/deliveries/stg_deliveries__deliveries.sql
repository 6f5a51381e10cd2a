select
    sha256 as delivery_sha256,
    dataset,
    agency,
    period,
    cast(period || '-01' as date) as period_month,
    source_file,
    size_bytes,
    rows_read,
    received_at,
    loaded_at
from {{ source('deliveries', 'deliveries') }}
