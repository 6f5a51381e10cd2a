select
    _sha256 as delivery_sha256, _source_file as source_file, _row_number as row_number,
    nullif(trim(response_id), '') as response_pseudonym,
    try_cast(nullif(trim(response_date), '') as date) as response_date,
    upper(nullif(trim(respondent_area), '')) as area_code,
    nullif(trim(top_concern_1), '') as top_concern_1,
    nullif(trim(top_concern_2), '') as top_concern_2,
    nullif(trim(top_concern_3), '') as top_concern_3,
    nullif(trim(feel_safe_day), '') as feel_safe_day,
    nullif(trim(feel_safe_night), '') as feel_safe_night
from {{ relation_or_empty('agencies', 'ds__consultation_survey',
    ['response_id', 'response_date', 'respondent_area', 'top_concern_1', 'top_concern_2', 'top_concern_3',
     'feel_safe_day', 'feel_safe_night']) }}
