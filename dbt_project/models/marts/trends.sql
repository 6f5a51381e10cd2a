{#- Year-on-year and three-year change per partnership, dataset and category, with the
    quasi-Poisson test of macros/audit_statistics.sql: the exact conditional binomial test on counts
    divided by the dispersion of the two years' monthly series (pooled Pearson chi-square / df,
    floored at 1), and a Benjamini-Hochberg q-value across the tests of one partnership's audit year
    (its pack); verdicts are read from q. Two years are compared only when
    they cover the same number of months; otherwise the verdict is 'insufficient data'. The test is
    on counts: it takes equal months as equal exposure and leaves out the change in residents between
    the two mid-year estimates (a fraction of a per cent a year), which rate_per_1000 in area_rates
    shows year by year.
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

period_means as (
    select
        partnership_code, dataset, category, period_start,
        count(*) as periods,
        {{ exact_sum('incidents') }} / count(*) as period_mean
    from {{ ref('area_monthly') }}
    where area_type = 'partnership'
    group by partnership_code, dataset, category, period_start
),

-- Pearson chi-square of the year's period counts about their mean, and its degrees of freedom
dispersion as (
    select
        m.partnership_code, m.dataset, m.category, m.period_start,
        case
            when any_value(p.period_mean) > 0
                then {{ exact_sum('(m.incidents - p.period_mean) ^ 2') }} / any_value(p.period_mean)
        end as chi_square,
        case when any_value(p.period_mean) > 0 then any_value(p.periods) - 1 end as chi_square_df
    from {{ ref('area_monthly') }} as m
    inner join period_means as p
        on
            p.partnership_code = m.partnership_code
            and p.dataset = m.dataset
            and p.category = m.category
            and p.period_start = m.period_start
    where m.area_type = 'partnership'
    group by m.partnership_code, m.dataset, m.category, m.period_start
),

yearly_marked as (
    select
        y.*,
        i.incomplete_data,
        d.chi_square,
        d.chi_square_df
    from yearly as y
    left join {{ ref('int_incomplete_years') }} as i
        on y.partnership_code = i.partnership_code and y.dataset = i.dataset and y.period_start = i.period_start
    left join dispersion as d
        on
            d.partnership_code = y.partnership_code
            and d.dataset = y.dataset
            and d.category = y.category
            and d.period_start = y.period_start
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
        {{ pooled_dispersion('prev.chi_square', 'prev.chi_square_df', 'y.chi_square', 'y.chi_square_df') }}
            as dispersion,
        {{ pooled_dispersion('base.chi_square', 'base.chi_square_df', 'y.chi_square', 'y.chi_square_df') }}
            as three_year_dispersion,
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

scaled as (
    select
        *,
        {{ effective_count('n', 'dispersion') }} as n_eff,
        {{ effective_count('n_prev', 'dispersion') }} as n_prev_eff,
        {{ effective_count('n', 'three_year_dispersion') }} as n_eff_3,
        {{ effective_count('n_base', 'three_year_dispersion') }} as n_base_eff
    from paired
),

tested as (
    select
        *,
        cast({{ change_test_p_value('n_prev_eff', 'n_eff', 'coalesce(previous_comparable, false)') }} as double)
            as p_value,
        cast({{ change_test_p_value('n_base_eff', 'n_eff_3', 'coalesce(base_comparable, false)') }} as double)
            as three_year_p_value
    from scaled
),

-- Benjamini-Hochberg across one partnership's tests of one audit year (the tests in its pack)
{%- set family = 'partnership_code, period_start' %}
{%- set tie = "dataset || '|' || category" %}
adjusted_raw as (
    select
        *,
        {{ bh_raw('p_value', family, tie) }} as q_raw,
        {{ bh_raw('three_year_p_value', family, tie) }} as three_year_q_raw
    from tested
),

adjusted as (
    select
        *,
        {{ bh_q('q_raw', 'p_value', family, tie) }} as q_value,
        {{ bh_q('three_year_q_raw', 'three_year_p_value', family, tie) }} as three_year_q_value
    from adjusted_raw
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
        else {{ change_test_verdict('n_prev', 'n', 'q_value') }}
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
        else {{ change_test_verdict('n_base', 'n', 'three_year_q_value') }}
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
    ), '') as incomplete_data,
    cast(q_value as double) as q_value,
    cast(case when previous_comparable then dispersion end as double) as dispersion,
    cast(three_year_q_value as double) as three_year_q_value,
    cast(case when base_comparable then three_year_dispersion end as double) as three_year_dispersion
from adjusted
order by partnership_code, dataset, category, period_start
