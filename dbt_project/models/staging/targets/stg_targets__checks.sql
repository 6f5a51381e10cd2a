select
    partnership_code,
    register_file,
    register_sha256,
    target_id,
    check_result,
    rejections,
    warnings,
    problems
from {{ source('targets', 'target_checks') }}
