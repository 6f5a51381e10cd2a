select agency, agency_name, agency_type
from {{ relation_or_empty('plan', 'plan_agencies', ['agency', 'agency_name', 'agency_type']) }}
