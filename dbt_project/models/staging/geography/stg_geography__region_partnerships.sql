select
    csp_code as partnership_code,
    csp_name as partnership_name,
    pfa_code,
    pfa_name
from {{ source('geography', 'region_partnerships') }}
