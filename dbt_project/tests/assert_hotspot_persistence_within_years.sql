-- An LSOA cannot be in the top 10% in more audit years than there are, and the years listed
-- must match the count.
select *
from {{ ref('hotspot_persistence') }}
where
    years_in_top_10_percent > audit_years
    or (years_in_top_10_percent = 0) <> (audit_years_in_top_10_percent is null)
    or (
        years_in_top_10_percent > 0
        and len(string_split(audit_years_in_top_10_percent, ', ')) <> years_in_top_10_percent
    )
