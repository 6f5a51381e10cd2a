{#- Yearly counts per partnership and crime type. months_covered counts the months of the audit
    year with any counted incident in the partnership; pct_change is only given when both years
    cover the same number of months, so a part year is never compared with a whole one, and both
    are complete: a year with a month whose police.uk file is missing or rejected
    (int_incomplete_years) is named in incomplete_data and no change to or from it is given. -#}
with monthly as (
    select *, {{ audit_year_start('"month"') }} as period_start
    from {{ ref('partnership_crime_monthly') }}
),

coverage as (
    select partnership_code, period_start, count(distinct "month") as months_covered
    from monthly
    group by all
),

yearly as (
    select partnership_code, partnership_name, period_start, crime_type, {{ exact_sum('incidents') }} as incidents
    from monthly
    group by all
),

with_previous as (
    select
        y.*,
        c.months_covered,
        prev.incidents as previous_year_incidents,
        prev_c.months_covered as previous_months_covered,
        nullif(concat_ws(
            '; ',
            {{ audit_year_label('y.period_start') }} || ': ' || gap.incomplete_data,
            {{ audit_year_label('prev_c.period_start') }} || ': ' || prev_gap.incomplete_data
        ), '') as incomplete_data
    from yearly as y
    inner join coverage as c
        on c.partnership_code = y.partnership_code and c.period_start = y.period_start
    left join yearly as prev
        on
            prev.partnership_code = y.partnership_code
            and prev.crime_type = y.crime_type
            and prev.period_start = y.period_start - interval 1 year
    left join coverage as prev_c
        on
            prev_c.partnership_code = y.partnership_code
            and prev_c.period_start = y.period_start - interval 1 year
    left join {{ ref('int_incomplete_years') }} as gap
        on
            gap.partnership_code = y.partnership_code
            and gap.dataset = 'police_uk_street'
            and gap.period_start = y.period_start
    left join {{ ref('int_incomplete_years') }} as prev_gap
        on
            prev_gap.partnership_code = y.partnership_code
            and prev_gap.dataset = 'police_uk_street'
            and prev_gap.period_start = prev_c.period_start
)

select
    w.partnership_code,
    w.partnership_name,
    {{ audit_year_label('w.period_start') }} as audit_year,
    cast(w.period_start as date) as period_start,
    cast(w.period_start + interval 1 year - interval 1 day as date) as period_end,
    cast(w.months_covered as integer) as months_covered,
    w.crime_type,
    cast(w.incidents as bigint) as incidents,
    round(1000.0 * w.incidents / pop.population, 3) as rate_per_1000,
    cast(w.previous_year_incidents as bigint) as previous_year_incidents,
    case
        when
            w.previous_year_incidents > 0 and w.previous_months_covered = w.months_covered
            and w.incomplete_data is null
            then round(100.0 * (w.incidents - w.previous_year_incidents) / w.previous_year_incidents, 1)
    end as pct_change,
    w.incomplete_data
from with_previous as w
left join {{ ref('int_partnership_populations') }} as pop
    on pop.partnership_code = w.partnership_code and pop.period_start = w.period_start
order by w.partnership_code, w.period_start, w.crime_type
