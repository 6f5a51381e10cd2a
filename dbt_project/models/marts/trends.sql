{#- Year-on-year and three-year change per partnership, dataset and category, with the exact
    conditional binomial test of macros/audit_statistics.sql. Two years are compared only when
    they cover the same number of months (the population denominator is the same for every year,
    so equal months mean equal exposure); otherwise the verdict is 'insufficient data'.
    Apportioned (fractional) counts are rounded to whole incidents for the test only. A year with a
    month whose deliveries are missing, rejected or overdue (audit.data_completeness) is incomplete:
    no change to or from it is tested, its verdicts say 'incomplete data', and incomplete_data names
    the agencies and months (int_incomplete_years), so a missing month is never presented as a fall
    or a rise. -#}
with yearly as (
    select
        partnership_code, partnership_name, dataset, category, audit_year, period_start, period_end,
        months_covered, incidents
    from {{ ref('area_rates') }}
    where area_type = 'partnership'
),

yearly_marked as (
    select
        y.*,
        i.incomplete_data
    from yearly as y
    left join {{ ref('int_incomplete_years') }} as i
        on y.partnership_code = i.partnership_code and y.dataset = i.dataset and y.period_start = i.period_start
),

paired as (
    select
        y.*,
        prev.audit_year as previous_audit_year,
        prev.incidents as previous_year_incidents,
        prev.months_covered as previous_months_covered,
        prev.incomplete_data as previous_incomplete_data,
        base.incomplete_data as base_incomplete_data,
        prev.months_covered = y.months_covered
        and y.incomplete_data is null and prev.incomplete_data is null as previous_comparable,
        base.audit_year as base_audit_year,
        base.incidents as base_year_incidents,
        base.months_covered as base_months_covered,
        base.months_covered = y.months_covered
        and y.incomplete_data is null and base.incomplete_data is null as base_comparable,
        cast(round(y.incidents) as bigint) as n,
        cast(round(prev.incidents) as bigint) as n_prev,
        cast(round(base.incidents) as bigint) as n_base
    from yearly_marked as y
    left join yearly_marked as prev
        on
            prev.partnership_code = y.partnership_code
            and prev.dataset = y.dataset
            and prev.category = y.category
            and prev.period_start = cast(y.period_start - interval 1 year as date)
    left join yearly_marked as base
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
    case
        when previous_audit_year is not null and coalesce(incomplete_data, previous_incomplete_data) is not null
            then 'incomplete data'
        else {{ change_test_verdict('n_prev', 'n', 'p_value') }}
    end as verdict,
    base_audit_year as three_year_base_audit_year,
    base_months_covered as three_year_base_months_covered,
    base_year_incidents as three_year_base_incidents,
    case when base_comparable then incidents - base_year_incidents end as three_year_change,
    case
        when base_comparable and base_year_incidents > 0
            then round(100.0 * (incidents - base_year_incidents) / base_year_incidents, 1)
    end as three_year_pct_change,
    cast(three_year_p_value as double) as three_year_p_value,
    case
        when base_audit_year is not null and coalesce(incomplete_data, base_incomplete_data) is not null
            then 'incomplete data'
        else {{ change_test_verdict('n_base', 'n', 'three_year_p_value') }}
    end as three_year_verdict,
    nullif(concat_ws(
        '; ',
        case when incomplete_data is not null then audit_year || ': ' || incomplete_data end,
        case
            when previous_incomplete_data is not null then previous_audit_year || ': ' || previous_incomplete_data
        end,
        case
            when base_incomplete_data is not null and base_audit_year is distinct from previous_audit_year
                then base_audit_year || ': ' || base_incomplete_data
        end
    ), '') as incomplete_data
from tested
order by partnership_code, dataset, category, period_start
