select force_slug, agency
from {{ relation_or_empty('agencies', 'plan_police_agencies', ['force_slug', 'agency']) }}
