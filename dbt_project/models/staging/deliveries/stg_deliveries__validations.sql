select
    sha256 as delivery_sha256,
    dataset,
    agency,
    period,
    source_file,
    received_at,
    suite_fingerprint,
    outcome,
    rows_read,
    rule,
    line,
    detail,
    warnings,
    validated_at
from {{ source('deliveries', 'delivery_validations') }}
