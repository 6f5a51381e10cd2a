{#- What a reader should know before using a partnership's figures for a dataset and audit year.
    share_unlocated (police.uk only): police.uk records without a location carry no LSOA, so they
    belong to no partnership and are in no partnership's counts. The share is measured per force
    and month as unlocated / (counted + unlocated + outside the region) records (duplicates and
    quarantined rows excluded), then averaged over the force-months that supplied this
    partnership's incidents, weighted by how many incidents each supplied: an estimate of the
    share of the partnership's records lost for want of a location. Quarantined rows are placed
    in a year by the month of the file that delivered them. -#}
with stale as (
    -- the dataset's latest due delivery was rejected or has not arrived: its figures are the last good ones
    select dataset, string_agg(agency || ': ' || reason, '; ' order by agency) as stale_inputs
    from {{ ref('dataset_freshness') }}
    where status = 'stale'
    group by all
),

spine as (
    select
        partnership_code, partnership_name, dataset, audit_year, period_start, period_end,
        months_covered, incidents, population
    from {{ ref('area_rates') }}
    where area_type = 'partnership' and category = 'All'
),

fact as (
    select
        partnership_code,
        dataset,
        agency,
        "month",
        {{ audit_year_start('"month"') }} as period_start,
        method,
        incidents
    from {{ ref('int_incidents_harmonised') }}
),

apportioned as (
    select
        partnership_code,
        dataset,
        period_start,
        {{ exact_sum('incidents', "filter (where method <> 'exact')") }}
        / nullif({{ exact_sum('incidents') }}, 0) as share_apportioned
    from fact
    group by all
),

police_rows as (
    select c.*, d.period_month
    from {{ ref('int_police_street_rows_classified') }} as c
    inner join {{ ref('int_deliveries') }} as d
        on d.delivery_sha256 = c.delivery_sha256
),

force_months as (
    select
        agency,
        period_month,
        count(*) filter (where row_status = 'unlocated')
        / nullif(count(*) filter (where row_status in ('counted', 'unlocated', 'outside_region')), 0)
            as share_unlocated
    from police_rows
    group by all
),

unlocated as (
    select
        f.partnership_code,
        f.dataset,
        f.period_start,
        {{ exact_sum('f.incidents * m.share_unlocated') }}
        / nullif({{ exact_sum('f.incidents') }}, 0) as share_unlocated
    from fact as f
    inner join force_months as m
        on m.agency = f.agency and m.period_month = f."month"
    where f.dataset = 'police_uk_street'
    group by all
),

quarantined as (
    select {{ audit_year_start('period_month') }} as period_start, partnership_code
    from police_rows
    where row_status = 'quarantined'
),

quarantined_in_partnership as (
    select partnership_code, period_start, count(*) as rows_quarantined
    from quarantined
    where partnership_code is not null
    group by all
),

quarantined_in_region as (
    select period_start, count(*) as rows_quarantined
    from quarantined
    group by all
),

covered as (
    select distinct
        partnership_code,
        dataset,
        cast(unnest(generate_series(
            "month", "month" + to_months(months_in_period - 1), interval 1 month
        )) as date) as month_start
    from {{ ref('area_monthly') }}
    where area_type = 'partnership' and category = 'All'
),

uncovered as (
    select
        s.partnership_code,
        s.dataset,
        s.period_start,
        string_agg(strftime(m.month_start, '%Y-%m'), ', ' order by m.month_start) as months_not_covered
    from spine as s
    cross join
        lateral (  -- noqa: ST05
            select unnest(generate_series(s.period_start, s.period_end, interval 1 month)) as month_start
        ) as m
    where
        not exists (
            select 1
            from covered as c
            where
                c.partnership_code = s.partnership_code
                and c.dataset = s.dataset
                and c.month_start = cast(m.month_start as date)
        )
    group by all
),

assembled as (
    select
        s.*,
        st.stale_inputs,
        u.months_not_covered,
        coalesce(a.share_apportioned, 0) as share_apportioned,
        case when s.dataset = 'police_uk_street' then coalesce(l.share_unlocated, 0) end as share_unlocated,
        case when s.dataset = 'police_uk_street' then coalesce(qp.rows_quarantined, 0) end
            as rows_quarantined,
        case when s.dataset = 'police_uk_street' then coalesce(qr.rows_quarantined, 0) end
            as region_rows_quarantined
    from spine as s
    left join stale as st on st.dataset = s.dataset
    left join uncovered as u
        on u.partnership_code = s.partnership_code and u.dataset = s.dataset and u.period_start = s.period_start
    left join apportioned as a
        on a.partnership_code = s.partnership_code and a.dataset = s.dataset and a.period_start = s.period_start
    left join unlocated as l
        on l.partnership_code = s.partnership_code and l.dataset = s.dataset and l.period_start = s.period_start
    left join quarantined_in_partnership as qp
        on qp.partnership_code = s.partnership_code and qp.period_start = s.period_start
    left join quarantined_in_region as qr
        on qr.period_start = s.period_start
)

select
    partnership_code,
    partnership_name,
    dataset,
    audit_year,
    period_start,
    period_end,
    months_covered,
    months_not_covered,
    incidents,
    population,
    cast(round(share_apportioned, 4) as double) as share_apportioned,
    cast(round(share_unlocated, 4) as double) as share_unlocated,
    cast(rows_quarantined as bigint) as rows_quarantined,
    cast(region_rows_quarantined as bigint) as region_rows_quarantined,
    stale_inputs,
    incomplete_data,
    coalesce(nullif(concat_ws(
        '; ',
        case
            when incomplete_data is not null then
                'Incomplete: no accepted delivery from ' || incomplete_data
                || ' (counts for those months are short; no change over this year is reported as a finding)'
        end,
        case when stale_inputs is not null then 'Stale inputs (last good figures shown): ' || stale_inputs end,
        case
            when months_covered < 12 then
                'Part year: ' || months_covered || ' of 12 months covered (not covered: ' || months_not_covered || ')'
        end,
        case when population is null then 'No population for every LSOA: rates per 1,000 not computed' end,
        case
            when share_apportioned > 0 then
                printf(
                    '%.1f%% of incidents apportioned to LSOAs from a coarser area (estimated placement)',
                    100 * share_apportioned
                )
        end,
        case
            when share_unlocated >= 0.001 then
                printf(
                    'About %.1f%% of the supplying force records had no location and are counted in no partnership',
                    100 * share_unlocated
                )
        end,
        case
            when rows_quarantined > 0 then
                rows_quarantined || ' quarantined rows with an LSOA in this partnership are not counted'
        end,
        case
            when region_rows_quarantined > 0 then
                region_rows_quarantined
                || ' rows quarantined across the region''s files in the year (see audit.quarantined_rows)'
        end
    ), ''), 'No caveats identified') as caveat
from assembled
left join {{ ref('int_incomplete_years') }} using (partnership_code, dataset, period_start)
order by partnership_code, dataset, period_start
