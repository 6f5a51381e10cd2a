select
    sha256 as delivery_sha256,
    source_file,
    suite,
    suite_fingerprint,
    outcome,
    rows_read,
    rule,
    line,
    detail,
    warnings,
    validated_at
from {{ source('police_uk', 'police_file_validations') }}
