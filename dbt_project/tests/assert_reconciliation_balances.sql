-- Every row read is accounted for exactly once, per file.
select *
from {{ ref('reconciliation') }}
where rows_read <> rows_counted + rows_duplicate + rows_unlocated + rows_outside_region + rows_quarantined
