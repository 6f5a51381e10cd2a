select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    nullif(trim(patient_id), '') as patient_pseudonym,
    try_cast(nullif(trim(incident_date), '') as date) as incident_date,
    nullif(trim(incident_time), '') as incident_time,
    try_cast(replace(nullif(trim(arrival_datetime), ''), 'T', ' ') as timestamp) as arrival_at,
    nullif(trim(incident_location), '') as incident_location,
    nullif(trim(incident_location_name), '') as incident_location_name,
    upper(nullif(trim(incident_lsoa_code), '')) as incident_area_code,
    nullif(trim(means_of_assault), '') as means_of_assault,
    upper(nullif(trim(patient_postcode_district), '')) as home_area_code
from {{ relation_or_empty('agencies', 'ds__ed_assaults',
    ['patient_id', 'incident_date', 'incident_time', 'arrival_datetime', 'incident_location',
     'incident_location_name', 'incident_lsoa_code', 'means_of_assault', 'patient_postcode_district']) }}
