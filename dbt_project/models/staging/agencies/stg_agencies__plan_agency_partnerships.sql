select agency, partnership_code
from {{ relation_or_empty('agencies', 'plan_agency_partnerships', ['agency', 'partnership_code']) }}
