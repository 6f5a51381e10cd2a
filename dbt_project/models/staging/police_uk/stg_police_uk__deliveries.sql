select
    sha256 as delivery_sha256,
    source_file,
    cast(period || '-01' as date) as period_month,
    force as force_slug,
    size_bytes,
    rows_read,
    loaded_at,
    superseded_by as superseded_by_sha256,
    superseded_by is null as is_current
from {{ source('police_uk', 'police_deliveries') }}
