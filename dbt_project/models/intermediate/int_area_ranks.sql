{#- Every LSOA and ward ranked within its partnership by incidents, per dataset, category and
    audit year: the one definition of "top 10%" that hotspots, concentration and
    hotspot_persistence share. The top 10% of a partnership's areas is ceil(10% of all its
    areas), areas with no incident included. An area is in it when it has at least one incident
    and its rank (ties share a rank) is within that size, so areas tied at the boundary are all
    in. position breaks ties by area code; it is used only to sum the largest counts.
    incomplete_data names the agencies and months of the partnership's year with no accepted
    delivery (int_incomplete_years): the areas they serve are short, so their ranks may be wrong.
    Only datasets placed at point or LSOA level in the partnership are ranked (int_dataset_placement):
    an apportioned count's areas only mirror the weights it was spread with.
    A table, built with the marts (it reads area_rates), so the three marts share one ranking. -#}
with ranked as (
    select
        r.*,
        rank() over (w order by r.incidents desc) as incident_rank,
        row_number() over (w order by r.incidents desc, r.area_code) as "position",
        count(*) over w as areas_in_partnership,
        cast(ceil(0.1 * count(*) over w) as integer) as top_10_percent_size,
        {{ exact_sum('r.incidents', "over w") }} as partnership_incidents,
        i.incomplete_data
    from {{ ref('area_rates') }} as r
    inner join {{ ref('int_dataset_placement') }} as d
        on d.partnership_code = r.partnership_code and d.dataset = r.dataset and d.placed_at_point_or_lsoa
    left join {{ ref('int_incomplete_years') }} as i
        on i.partnership_code = r.partnership_code and i.dataset = r.dataset and i.period_start = r.period_start
    where r.area_type in ('lsoa', 'ward')
    window w as (partition by r.partnership_code, r.area_type, r.dataset, r.category, r.period_start)
)

select
    *,
    incidents > 0 and incident_rank <= top_10_percent_size as in_top_10_percent
from ranked
