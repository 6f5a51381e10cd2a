{#- A corrected re-delivery supersedes the earlier one for the same agency, dataset and period:
    the latest received is current; both stay stored so every figure can name its delivery. -#}
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
    loaded_at,
    row_number() over (
        partition by dataset, agency, period order by received_at desc, source_file desc
    ) = 1 as is_current
from {{ source('agencies', 'deliveries') }}
