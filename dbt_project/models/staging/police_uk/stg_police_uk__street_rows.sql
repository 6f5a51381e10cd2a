select
    _sha256 as delivery_sha256,
    _source_file as source_file,
    _row_number as row_number,
    _loaded_at as loaded_at,
    nullif(trim("Crime ID"), '') as crime_id,
    nullif(trim("Month"), '') as month_text,
    try_cast(nullif(trim("Month"), '') || '-01' as date) as "month",
    nullif(trim("Reported by"), '') as reported_by,
    nullif(trim("Falls within"), '') as falls_within,
    try_cast(nullif(trim("Longitude"), '') as double) as longitude,
    try_cast(nullif(trim("Latitude"), '') as double) as latitude,
    nullif(trim("Location"), '') as location,
    nullif(trim("LSOA code"), '') as lsoa_code,
    nullif(trim("LSOA name"), '') as lsoa_name,
    nullif(trim("Crime type"), '') as crime_type,
    nullif(trim("Last outcome category"), '') as last_outcome,
    nullif(trim("Context"), '') as context
from {{ source('police_uk', 'police_street_rows') }}
