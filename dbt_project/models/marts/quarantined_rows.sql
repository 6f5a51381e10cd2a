{#- The rows held back, with the rule that held each one, so agencies can be told what to fix. -#}
select
    source_file,
    row_number,
    quarantine_reason as rule,
    crime_id,
    "month",
    crime_type,
    lsoa_code
from {{ ref('int_police_street_rows_classified') }}
where row_status = 'quarantined'
order by source_file, row_number
