select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim(quarter_start), '') || '-01' as date) as quarter_start,
    nullif(trim(lad_code), '') as area_code,
    nullif(trim(lad_name), '') as area_name,
    nullif(trim(cohort_type), '') as cohort_type,
    try_cast(nullif(trim(offenders), '') as bigint) as offenders,
    try_cast(nullif(trim(reoffences), '') as bigint) as reoffences,
    try_cast(nullif(trim(reoffenders), '') as bigint) as reoffenders
from {{ relation_or_empty('agencies', 'ds__proven_reoffending',
    ['quarter_start', 'lad_code', 'lad_name', 'cohort_type', 'offenders', 'reoffences', 'reoffenders']) }}
