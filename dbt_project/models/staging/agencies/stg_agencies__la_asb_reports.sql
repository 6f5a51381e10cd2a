select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    try_cast(nullif(trim("month"), '') || '-01' as date) as "month",
    nullif(trim(ward_code), '') as area_code,
    nullif(trim(ward_name), '') as area_name,
    nullif(trim(report_type), '') as report_type,
    nullif(trim(category), '') as report_category,
    try_cast(nullif(trim(reports), '') as bigint) as reports
from {{ relation_or_empty('agencies', 'ds__la_asb_reports',
    ['month', 'ward_code', 'ward_name', 'report_type', 'category', 'reports']) }}
