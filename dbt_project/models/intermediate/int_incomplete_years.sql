{{ config(materialized='ephemeral') }}
{#- The audit years of a partnership and dataset that hold a month whose deliveries are missing,
    rejected or overdue (audit.data_completeness), with the agencies and months named: the one
    definition of an incomplete partnership-year that trends, caveats, comparisons, the area ranks
    and the strategy marts share. Counts over such a year are short, so no change, rank or
    comparison made from it is a finding. -#}
select
    partnership_code,
    dataset,
    {{ audit_year_start('"month"') }} as period_start,
    string_agg(missing_from || ' ' || strftime("month", '%Y-%m'), '; ' order by "month", missing_from)
        as incomplete_data
from {{ ref('data_completeness') }}
where not complete
group by all
