-- A quarantined row always says why; no other row carries a reason.
select delivery_sha256, row_number, row_status, quarantine_reason
from {{ ref('int_police_street_rows_classified') }}
where (row_status = 'quarantined') <> (quarantine_reason is not null)
