-- Every row of every loaded agency delivery appears in the classification exactly once
-- (police.uk deliveries: assert_every_delivered_row_classified).
select d.source_file, d.rows_read, count(c.row_number) as classified
from {{ ref('int_deliveries') }} as d
left join {{ ref('int_agency_rows_classified') }} as c using (delivery_sha256)
where d.dataset <> 'police_uk_street'
group by all
having count(c.row_number) <> d.rows_read
