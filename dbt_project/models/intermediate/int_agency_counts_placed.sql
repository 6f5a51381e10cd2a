{#- Counted agency rows spread over LSOAs with the weights for the row's geography (the dataset's,
    or its fallback's for a row flagged by_fallback); each output row carries the method, the share
    and whether it landed inside the region. -#}
select
    c.dataset,
    c.agency,
    c.delivery_sha256,
    c.source_file,
    c.row_number,
    c."month",
    c.area_code,
    c.category,
    c.count_value,
    w.lsoa_code,
    w.partnership_code,
    w.in_region,
    w.method,
    w.share as weight,
    w.basis,
    w.area_in_one_partnership,
    c.count_value * w.share as incidents,
    c.by_fallback
from {{ ref('int_agency_rows_classified') }} as c
inner join {{ ref('int_apportionment_weights_normalised') }} as w
    on w.geography_key = c.geography_key and w.area_code = c.area_code
where c.row_status = 'counted' and c.count_value is not null  -- survey responses are not incidents
