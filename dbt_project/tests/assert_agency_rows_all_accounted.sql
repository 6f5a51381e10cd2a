-- Every row of every loaded agency delivery appears in the classification exactly once.
select d.source_file, d.rows_read, count(c.row_number) as classified
from {{ ref('stg_agencies__deliveries') }} as d
left join {{ ref('int_agency_rows_classified') }} as c using (delivery_sha256)
group by all
having count(c.row_number) <> d.rows_read
