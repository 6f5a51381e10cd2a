-- Conservation: per dataset and month, apportionment neither creates nor loses incidents. Shares are
-- normalised doubles, so totals agree to floating-point rounding; the tolerance is 1e-6 of the total.
with delivered as (
    select dataset, "month", sum(count_value) as delivered
    from {{ ref('int_agency_rows_classified') }}
    where row_status = 'counted' and count_value is not null
    group by all
),

placed as (
    select dataset, "month", sum(incidents) as placed
    from {{ ref('int_agency_counts_placed') }}
    group by all
)

select *
from delivered full outer join placed using (dataset, "month")
where abs(coalesce(delivered, 0) - coalesce(placed, 0)) > 1e-6 * greatest(1, coalesce(delivered, 0))
