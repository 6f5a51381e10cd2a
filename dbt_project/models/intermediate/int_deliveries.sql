{#- Every loaded delivery, and the one rule that says which counts: for each dataset, agency and
    period the latest received is current. A corrected re-delivery supersedes the earlier one for
    police.uk files and agency data alike; both stay stored so every figure can name its delivery. -#}
select
    *,
    row_number() over (
        partition by dataset, agency, period order by received_at desc, source_file desc
    ) = 1 as is_current
from {{ ref('stg_deliveries__deliveries') }}
