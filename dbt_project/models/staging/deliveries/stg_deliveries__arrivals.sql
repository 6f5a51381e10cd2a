select
    agency, agency_name, dataset, period, period_label,
    cast(due_date as date) as due_date,
    status,
    cast(received_at as timestamp) as received_at,
    cast(deliveries as integer) as deliveries,
    nullif(source_file, '') as source_file
from {{ relation_or_empty('deliveries', 'arrival_board',
    ['agency', 'agency_name', 'dataset', 'period', 'period_label', 'due_date', 'status', 'received_at',
     'deliveries', 'source_file']) }}
