select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim("month"), '') || '-01' as date) as "month",
    nullif(trim(lsoa_code), '') as lsoa_code,
    nullif(trim(record_type), '') as record_type,
    nullif(trim(repeat_victim), '') as repeat_victim,
    try_cast(nullif(trim(incidents), '') as bigint) as incidents
from {{ relation_or_empty('agencies', 'ds__domestic_abuse_incidents',
    ['month', 'lsoa_code', 'record_type', 'repeat_victim', 'incidents']) }}
