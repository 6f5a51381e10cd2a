select * from {{ ref('stg_targets__checks') }}
