select
    partnership_code,
    register_file,
    register_sha256,
    target_id,
    check_result,
    rejections,
    warnings,
    problems
from {{ ref('stg_targets__checks') }}
