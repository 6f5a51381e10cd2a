select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim("month"), '') || '-01' as date) as "month",
    nullif(trim(lsoa_code), '') as lsoa_code,
    nullif(trim(complaint_category), '') as complaint_category,
    try_cast(nullif(trim(complaints), '') as bigint) as complaints
from {{ relation_or_empty('agencies', 'ds__housing_asb_complaints',
    ['month', 'lsoa_code', 'complaint_category', 'complaints']) }}
