{#- Data quality per dataset, agency and delivery period, for the feedback to agencies:
    validity (share of rows not quarantined), duplicates, share located, timeliness against the
    plan's due date, and the gate's verdict with the rule that failed. -#}
with deliveries as (
    select
        q.*,
        row_number() over (
            partition by
                dataset, agency, period order by
                is_current desc, outcome = 'accepted' desc,
                source_file desc
        ) as pick,
        count(*) over (partition by dataset, agency, period) as deliveries
    from {{ ref('int_delivery_quality') }} as q
),

board as (
    select dataset, agency, period, due_date, status, received_at
    from {{ ref('stg_deliveries__arrivals') }}
)

select
    d.dataset,
    d.agency,
    d.period,
    cast(d.deliveries as integer) as deliveries,
    d.source_file as latest_file,
    d.outcome as gate_outcome,
    d.rule as failed_rule,
    cast(d.line as bigint) as failed_line,
    d.detail as failed_detail,
    d.warnings,
    cast(d.rows_read as bigint) as rows_read,
    cast(d.rows_quarantined as bigint) as rows_quarantined,
    cast(d.rows_duplicate as bigint) as rows_duplicate,
    round(case when d.rows_read > 0 then 1 - d.rows_quarantined / d.rows_read end, 4) as validity,
    round(case when d.rows_read > 0 then 1 - d.rows_unlocated / d.rows_read end, 4) as share_located,
    b.due_date,
    b.received_at,
    cast(case
        when b.received_at is not null and b.due_date is not null
            then date_diff('day', b.due_date, cast(b.received_at as date))
    end as integer) as days_after_due,
    coalesce(b.status, case when d.outcome = 'rejected' then 'rejected' else 'received' end) as arrival_status
from deliveries as d
left join board as b using (dataset, agency, period)
where d.pick = 1
order by d.dataset, d.agency, d.period
