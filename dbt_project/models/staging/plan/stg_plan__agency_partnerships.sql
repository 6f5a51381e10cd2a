select agency, partnership_code
from {{ relation_or_empty('plan', 'plan_agency_partnerships', ['agency', 'partnership_code']) }}
