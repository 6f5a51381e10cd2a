{#- Completeness by month and partnership: for each dataset, were the deliveries the partnership
    depends on received and accepted for that month? police.uk, when the plan does not list it:
    the force that records most of the partnership's crime, every month from the region's first
    to its last delivered month.
    Plan datasets: every agency that serves the partnership, every month of each due period. A
    delivery is received when it is accepted and still counts (int_deliveries.is_current): one
    withdrawn from the source since (its period no longer in the landing zone) has left the marts,
    so its months are missing too. -#}
with current_deliveries as (
    select dataset, agency, period, delivery_sha256
    from {{ ref('int_deliveries') }}
    where is_current
),

police_force as (
    select partnership_code, agency
    from (
        select partnership_code, agency, count(*) as n
        from {{ ref('int_police_street_rows_classified') }}
        where row_status = 'counted'
        group by all
    )
    qualify row_number() over (partition by partnership_code order by n desc, agency) = 1
),

police_months as (
    select
        unnest(
            generate_series(min(cast(period || '-01' as date)), max(cast(period || '-01' as date)), interval 1 month)
        ) as "month"
    from {{ ref('int_delivery_quality') }}
    where dataset = 'police_uk_street'
),

police as (
    select
        f.partnership_code, cast(m."month" as date) as "month", 'police_uk_street' as dataset, f.agency,
        c.delivery_sha256 is not null as received
    from police_force as f
    cross join police_months as m
    left join current_deliveries as c
        on c.dataset = 'police_uk_street' and c.agency = f.agency and c.period = strftime(m."month", '%Y-%m')
),

plan_expected as (
    select b.dataset, b.agency, ap.partnership_code, b.period, b.status, p.cadence
    from {{ ref('stg_deliveries__arrivals') }} as b
    inner join {{ ref('stg_plan__agency_partnerships') }} as ap using (agency)
    inner join {{ ref('stg_plan__datasets') }} as p using (dataset)
    where b.status <> 'requested'
),

plan as (
    select
        partnership_code,
        cast(cast(period || '-01' as date) + to_months(offs) as date) as "month",
        dataset, agency,
        status in ('received', 'late') and exists (
            select 1 from current_deliveries as c
            where
                c.dataset = plan_expected.dataset
                and c.agency = plan_expected.agency
                and c.period = plan_expected.period
        ) as received
    from plan_expected,
        unnest(range(case cadence when 'quarterly' then 3 when 'yearly' then 12 else 1 end)) as t (offs)
)

select
    u.partnership_code,
    u."month",
    u.dataset,
    count(*) as deliveries_expected,
    count(*) filter (where received) as deliveries_received,
    count(*) = count(*) filter (where received) as complete,
    string_agg(agency, ', ' order by agency) filter (where not received) as missing_from
from (
    -- police.uk from the plan when it is in the plan (its forces and the partnerships they serve), else
    -- from the files; never both, which would expect each police.uk file twice
    select * from police
    where
        not exists (
            select 1 from plan_expected
            where dataset = 'police_uk_street'
        )
    union all
    select * from plan
) as u
inner join {{ ref('stg_geography__region_partnerships') }} using (partnership_code)
group by all
order by u.partnership_code, u."month", u.dataset
