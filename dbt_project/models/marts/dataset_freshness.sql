{#- Is each dataset's figure current, per agency? A dataset is stale when its latest due period
    (or, without a plan, the latest month any force delivered) has no accepted delivery: the last
    good figures stay published and this says why they are not newer. A dataset can be current and
    still have holes: missing_periods names earlier due periods with no accepted delivery (overdue
    or rejected, not since corrected, or withdrawn: received but no longer in the source, so no
    longer counted), late_periods those that arrived after their due date. -#}
with quality as (
    select dataset, agency, period, gate_outcome, failed_rule, failed_line, failed_detail, latest_file, arrival_status
    from {{ ref('data_quality') }}
),

board_expected as (
    select dataset, agency, max(period) as expected_period
    from {{ ref('stg_deliveries__arrivals') }}
    where status <> 'requested'
    group by all
),

police_latest as (
    select max(period) as expected_period
    from quality
    where dataset = 'police_uk_street'
),

police_expected as (
    select distinct
        q.dataset,
        q.agency,
        l.expected_period
    from quality as q
    cross join police_latest as l
    where q.dataset = 'police_uk_street'
),

expected as (
    select * from board_expected
    union all
    select * from police_expected
    where not exists (
        select 1 from board_expected
        where dataset = 'police_uk_street'
    )
),

board_gaps as (
    -- a period received but no longer counted (its file gone from the source since) is a hole too
    select
        b.dataset,
        b.agency,
        string_agg(
            b.period || ' (' || case when b.status in ('received', 'late') then 'withdrawn' else b.status end || ')',
            ', ' order by b.period
        ) filter (
            where b.status in ('overdue', 'rejected') or b.status in ('received', 'late') and c.agency is null
        ) as missing_periods,
        string_agg(b.period, ', ' order by b.period) filter (where b.status = 'late') as late_periods
    from {{ ref('stg_deliveries__arrivals') }} as b
    left join {{ ref('int_deliveries') }} as c
        on c.dataset = b.dataset and c.agency = b.agency and c.period = b.period and c.is_current
    group by b.dataset, b.agency
),

good as (
    select dataset, agency, max(period) as last_good_period
    from quality
    where gate_outcome = 'accepted'
    group by all
)

select
    e.dataset,
    e.agency,
    e.expected_period,
    g.last_good_period,
    case when g.last_good_period is not null and g.last_good_period >= e.expected_period then 'current' else 'stale' end
        as status,
    case
        when g.last_good_period is not null and g.last_good_period >= e.expected_period then null
        when q.gate_outcome = 'rejected'
            then
                'delivery for '
                || e.expected_period
                || ' rejected: '
                || q.latest_file
                || ', line '
                || coalesce(cast(q.failed_line as varchar), '?')
                || ': rule ' || q.failed_rule
        else
            'no delivery for ' || e.expected_period || ' yet'
            || coalesce(' (' || (
                select status from {{ ref('stg_deliveries__arrivals') }} as b
                where b.dataset = e.dataset and b.agency = e.agency and b.period = e.expected_period
            ) || ')', '')
    end as reason,
    bg.missing_periods,
    bg.late_periods
from expected as e
left join good as g using (dataset, agency)
left join board_gaps as bg on e.dataset = bg.dataset and e.agency = bg.agency
left join quality as q on q.dataset = e.dataset and q.agency = e.agency and q.period = e.expected_period
order by e.dataset, e.agency
