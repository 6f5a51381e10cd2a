-- Every row read of a loaded file is accounted for exactly once, per file; a rejected file counts nothing.
select *
from {{ ref('reconciliation') }}
where
    outcome = 'loaded'
    and rows_read <> rows_counted + rows_duplicate + rows_unlocated + rows_outside_region + rows_quarantined
    or outcome = 'rejected'
    and rows_counted + rows_duplicate + rows_unlocated + rows_outside_region + rows_quarantined <> 0
