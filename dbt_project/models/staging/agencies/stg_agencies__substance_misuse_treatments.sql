select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim(quarter_start), '') || '-01' as date) as quarter_start,
    nullif(trim(lad_code), '') as area_code,
    nullif(trim(lad_name), '') as area_name,
    nullif(trim(substance_group), '') as substance_group,
    try_cast(nullif(trim(in_treatment), '') as bigint) as in_treatment,
    try_cast(nullif(trim(new_presentations), '') as bigint) as new_presentations
from {{ relation_or_empty('agencies', 'ds__substance_misuse_treatment',
    ['quarter_start', 'lad_code', 'lad_name', 'substance_group', 'in_treatment', 'new_presentations']) }}
