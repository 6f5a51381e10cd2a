{{ config(severity='warn') }}
-- A police.uk crime type without a row in seeds/crime_severity_weights.csv is left out of the
-- harm mart; warn so that a new police.uk category gets a weight.
select distinct f.category
from {{ ref('int_incidents_harmonised') }} as f
left join {{ ref('crime_severity_weights') }} as w
    on w.category = f.category
where
    f.dataset = 'police_uk_street'
    and w.category is null
