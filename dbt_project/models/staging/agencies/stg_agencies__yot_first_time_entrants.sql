select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim(quarter_start), '') || '-01' as date) as quarter_start,
    nullif(trim(lad_code), '') as area_code,
    nullif(trim(lad_name), '') as area_name,
    nullif(trim(age_band), '') as age_band,
    try_cast(nullif(trim(first_time_entrants), '') as bigint) as first_time_entrants
from {{ relation_or_empty('agencies', 'ds__yot_first_time_entrants',
    ['quarter_start', 'lad_code', 'lad_name', 'age_band', 'first_time_entrants']) }}
