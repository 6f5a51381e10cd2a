{#- One row per current delivered file: every row read is counted, a duplicate, unlocated,
    outside the region, or quarantined. -#}
select
    source_file,
    count(*) as rows_read,
    count(*) filter (where row_status = 'counted') as rows_counted,
    count(*) filter (where row_status = 'duplicate') as rows_duplicate,
    count(*) filter (where row_status = 'unlocated') as rows_unlocated,
    count(*) filter (where row_status = 'outside_region') as rows_outside_region,
    count(*) filter (where row_status = 'quarantined') as rows_quarantined
from {{ ref('int_police_street_rows_classified') }}
group by source_file
order by source_file
