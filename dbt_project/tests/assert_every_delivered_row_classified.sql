-- The reconciliation reads as many rows per current delivery as the load recorded.
select d.source_file, d.rows_read as loaded, r.rows_read as reconciled
from {{ ref('int_deliveries') }} as d
left join {{ ref('reconciliation') }} as r on r.delivery_sha256 = d.delivery_sha256
where d.dataset = 'police_uk_street' and d.is_current and coalesce(r.rows_read, 0) <> d.rows_read
