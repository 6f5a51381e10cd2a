select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim(quarter_start), '') || '-01' as date) as quarter_start,
    nullif(trim(ward_code), '') as area_code,
    nullif(trim(ward_name), '') as area_name,
    nullif(trim(offence_group), '') as offence_group,
    try_cast(nullif(trim(caseload), '') as bigint) as caseload
from {{ relation_or_empty('agencies', 'ds__probation_caseload',
    ['quarter_start', 'ward_code', 'ward_name', 'offence_group', 'caseload']) }}
