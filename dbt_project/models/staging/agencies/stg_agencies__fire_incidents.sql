select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim("month"), '') || '-01' as date) as "month",
    nullif(trim(ward_code), '') as area_code,
    nullif(trim(ward_name), '') as area_name,
    nullif(trim(fire_category), '') as fire_category,
    nullif(trim(property_type), '') as property_type,
    try_cast(nullif(trim(incidents), '') as bigint) as incidents
from {{ relation_or_empty('agencies', 'ds__fire_incidents',
    ['month', 'ward_code', 'ward_name', 'fire_category', 'property_type', 'incidents']) }}
