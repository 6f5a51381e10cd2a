{#- Year-on-year and three-year change per partnership, dataset and category, with the exact
    conditional binomial test of macros/audit_statistics.sql. Two years are compared only when
    they cover the same number of months (the population denominator is the same for every year,
    so equal months mean equal exposure); otherwise the verdict is 'insufficient data'.
    Apportioned (fractional) counts are rounded to whole incidents for the test only. -#}
with yearly as (
    select
        partnership_code, partnership_name, dataset, category, audit_year, period_start, period_end,
        months_covered, incidents
    from {{ ref('area_rates') }}
    where area_type = 'partnership'
),

paired as (
    select
        y.*,
        prev.audit_year as previous_audit_year,
        prev.incidents as previous_year_incidents,
        prev.months_covered as previous_months_covered,
        prev.months_covered = y.months_covered as previous_comparable,
        base.audit_year as base_audit_year,
        base.incidents as base_year_incidents,
        base.months_covered as base_months_covered,
        base.months_covered = y.months_covered as base_comparable,
        cast(round(y.incidents) as bigint) as n,
        cast(round(prev.incidents) as bigint) as n_prev,
        cast(round(base.incidents) as bigint) as n_base
    from yearly as y
    left join yearly as prev
        on
            prev.partnership_code = y.partnership_code
            and prev.dataset = y.dataset
            and prev.category = y.category
            and prev.period_start = cast(y.period_start - interval 1 year as date)
    left join yearly as base
        on
            base.partnership_code = y.partnership_code
            and base.dataset = y.dataset
            and base.category = y.category
            and base.period_start = cast(y.period_start - interval 2 year as date)
),

tested as (
    select
        *,
        {{ change_test_p_value('n_prev', 'n', 'coalesce(previous_comparable, false)') }} as p_value,
        {{ change_test_p_value('n_base', 'n', 'coalesce(base_comparable, false)') }} as three_year_p_value
    from paired
)

select
    partnership_code,
    partnership_name,
    dataset,
    category,
    audit_year,
    period_start,
    period_end,
    months_covered,
    incidents,
    previous_audit_year,
    previous_months_covered,
    previous_year_incidents,
    case when previous_comparable then incidents - previous_year_incidents end as change,
    case
        when previous_comparable and previous_year_incidents > 0
            then round(100.0 * (incidents - previous_year_incidents) / previous_year_incidents, 1)
    end as pct_change,
    cast(p_value as double) as p_value,
    {{ change_test_verdict('n_prev', 'n', 'p_value') }} as verdict,
    base_audit_year as three_year_base_audit_year,
    base_months_covered as three_year_base_months_covered,
    base_year_incidents as three_year_base_incidents,
    case when base_comparable then incidents - base_year_incidents end as three_year_change,
    case
        when base_comparable and base_year_incidents > 0
            then round(100.0 * (incidents - base_year_incidents) / base_year_incidents, 1)
    end as three_year_pct_change,
    cast(three_year_p_value as double) as three_year_p_value,
    {{ change_test_verdict('n_base', 'n', 'three_year_p_value') }} as three_year_verdict
from tested
order by partnership_code, dataset, category, period_start
