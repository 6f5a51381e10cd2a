{#- MoRiLE-style priority scores per partnership, audit year and candidate issue (seed
    priority_candidates). Six factors, each scored 1-5:
      volume          quintile band of rate_per_1000 among the region's partnership x issue rows of the year
      trend           fixed bands: significant rise of 20% or more 5, other significant rise 4, no significant
                      change or too little data 3, significant fall 2, significant fall of 20% or more 1;
                      the test is that of trends (quasi-Poisson, dispersion from the issue's monthly
                      counts) and significant means a Benjamini-Hochberg q < 0.05 across the
                      partnership's issues of the year
      concentration   quintile band of share_in_top_10_percent (same pool as volume)
      harm            quintile band of severity-weighted incidents per 1,000 (police.uk issues only)
      public_concern  quintile band of the share of survey respondents naming the issue's concern
      capacity        the partnership's own 1-5 judgement (seed partnership_capacity; default 3)
    A quintile band is 1 + floor(5 x percent_rank) capped at 5, percent_rank = (rank - 1) / (n - 1)
    over the non-null values of the year in ascending order (ties share a band; n = 1 gives 1).
    likelihood = weighted mean of the available volume, trend and concentration scores; impact =
    weighted mean of the available harm and public-concern scores (weights: seed priority_weights);
    a factor without a value is left out of its mean and named in missing_factors (a mean with no
    factor at all is 3). risk_score = likelihood x impact (1-25); priority_score = risk_score x
    capacity_multiplier, capacity_multiplier = 1 + capacity weight x (3 - capacity) / 4. A year of
    the issue's dataset with a month whose deliveries are missing, rejected or overdue
    (int_incomplete_years) is incomplete: no change to or from it is tested (trend_verdict
    'incomplete data', trend_score 3 as for no change), no rank change is reported, and
    incomplete_data names the agencies and months. -#}
with weights as (
    select
        coalesce(max(weight) filter (where factor = 'volume'), 0) as w_volume,
        coalesce(max(weight) filter (where factor = 'trend'), 0) as w_trend,
        coalesce(max(weight) filter (where factor = 'concentration'), 0) as w_concentration,
        coalesce(max(weight) filter (where factor = 'harm'), 0) as w_harm,
        coalesce(max(weight) filter (where factor = 'public_concern'), 0) as w_public_concern,
        coalesce(max(weight) filter (where factor = 'capacity'), 0) as w_capacity
    from {{ ref('priority_weights') }}
),

candidates as (
    select
        issue,
        label,
        dataset,
        trim(unnest(string_split(categories, '|'))) as pattern,
        nullif(lower(trim(concern)), '') as concern
    from {{ ref('priority_candidates') }}
),

rate_categories as (
    select distinct dataset, category from {{ ref('area_rates') }}
    where area_type = 'partnership'
),

matched as (
    select distinct c.issue, c.dataset, r.category
    from candidates as c
    inner join rate_categories as r
        on
            r.dataset = c.dataset
            and case
                when c.pattern = 'All' then r.category = 'All'
                else r.category <> 'All' and r.category ilike c.pattern
            end
),

issue_info as (
    select issue, any_value(label) as label, any_value(dataset) as dataset, any_value(concern) as concern
    from candidates
    group by issue
),

yearly as (
    select
        r.partnership_code,
        any_value(r.partnership_name) as partnership_name,
        r.period_start,
        any_value(r.audit_year) as audit_year,
        any_value(r.period_end) as period_end,
        m.issue,
        any_value(r.months_covered) as months_covered,
        {{ exact_sum('r.incidents') }} as incidents,
        any_value(r.population) as population,
        any_value(r.dataset) as dataset
    from matched as m
    inner join {{ ref('area_rates') }} as r
        on
            r.dataset = m.dataset
            and r.category = m.category
            and r.area_type = 'partnership'
    group by r.partnership_code, r.period_start, m.issue
),

issue_periods as (
    select r.partnership_code, r.period_start, m.issue, r."month", {{ exact_sum('r.incidents') }} as incidents
    from matched as m
    inner join {{ ref('area_monthly') }} as r
        on
            r.dataset = m.dataset
            and r.category = m.category
            and r.area_type = 'partnership'
    group by r.partnership_code, r.period_start, m.issue, r."month"
),

period_means as (
    select
        partnership_code,
        period_start,
        issue,
        count(*) as periods,
        {{ exact_sum('incidents') }} / count(*) as period_mean
    from issue_periods
    group by partnership_code, period_start, issue
),

-- Pearson chi-square of the issue's period counts about the year's mean (the dispersion of trends)
dispersion as (
    select
        q.partnership_code, q.period_start, q.issue,
        case
            when any_value(p.period_mean) > 0
                then {{ exact_sum('(q.incidents - p.period_mean) ^ 2') }} / any_value(p.period_mean)
        end as chi_square,
        case when any_value(p.period_mean) > 0 then any_value(p.periods) - 1 end as chi_square_df
    from issue_periods as q
    inner join period_means as p
        on p.partnership_code = q.partnership_code and p.period_start = q.period_start and p.issue = q.issue
    group by q.partnership_code, q.period_start, q.issue
),

yearly_marked as (
    select
        y.*,
        i.incomplete_data,
        d.chi_square,
        d.chi_square_df
    from yearly as y
    left join {{ ref('int_incomplete_years') }} as i
        on i.partnership_code = y.partnership_code and i.dataset = y.dataset and i.period_start = y.period_start
    left join dispersion as d
        on d.partnership_code = y.partnership_code and d.period_start = y.period_start and d.issue = y.issue
),

paired as (
    select
        y.*,
        p.audit_year as previous_audit_year,
        p.incomplete_data as previous_incomplete_data,
        p.incidents as previous_year_incidents,
        p.months_covered = y.months_covered
        and y.incomplete_data is null and p.incomplete_data is null as previous_comparable,
        {{ pooled_dispersion('p.chi_square', 'p.chi_square_df', 'y.chi_square', 'y.chi_square_df') }}
            as dispersion,
        cast(round(y.incidents) as bigint) as n,
        cast(round(p.incidents) as bigint) as n_prev
    from yearly_marked as y
    left join yearly_marked as p
        on
            p.partnership_code = y.partnership_code
            and p.issue = y.issue
            and p.period_start = cast(y.period_start - interval 1 year as date)
),

tested as (
    select
        *,
        cast({{ change_test_p_value(
            effective_count('n_prev', 'dispersion'), effective_count('n', 'dispersion'),
            'coalesce(previous_comparable, false)'
        ) }} as double) as p_value
    from paired
),

-- Benjamini-Hochberg across the partnership's issues of the year
trended_raw as (
    select *, {{ bh_raw('p_value', 'partnership_code, period_start', 'issue') }} as q_raw
    from tested
),

trended as (
    select *, {{ bh_q('q_raw', 'p_value', 'partnership_code, period_start', 'issue') }} as q_value
    from trended_raw
),

lsoa_counts as (
    select r.partnership_code, r.period_start, m.issue, r.area_code, {{ exact_sum('r.incidents') }} as incidents
    from matched as m
    inner join {{ ref('area_rates') }} as r
        on
            r.dataset = m.dataset
            and r.category = m.category
            and r.area_type = 'lsoa'
    -- LSOA concentration only where the data are placed at point or LSOA level
    inner join {{ ref('int_dataset_placement') }} as d
        on d.partnership_code = r.partnership_code and d.dataset = r.dataset and d.placed_at_point_or_lsoa
    group by r.partnership_code, r.period_start, m.issue, r.area_code
),

lsoa_ranked as (
    select
        *,
        row_number() over (w order by incidents desc, area_code) as "position",
        cast(ceil(0.1 * count(*) over w) as integer) as top_size
    from lsoa_counts
    window w as (partition by partnership_code, period_start, issue)
),

concentrated as (
    select
        partnership_code,
        period_start,
        issue,
        {{ exact_sum('incidents', "filter (where \"position\" <= top_size)") }}
        / nullif({{ exact_sum('incidents') }}, 0) as share_in_top_10_percent
    from lsoa_ranked
    group by partnership_code, period_start, issue
),

harmed as (
    select
        h.partnership_code, h.period_start, m.issue, {{ exact_sum('h.weighted_incidents') }} as weighted_incidents,
        any_value(h.population) as population
    from matched as m
    inner join {{ ref('harm') }} as h
        on
            h.dataset = m.dataset
            and h.category = m.category
    group by h.partnership_code, h.period_start, m.issue
),

survey_years as (
    select distinct partnership_code, period_start from {{ ref('consultation_concerns') }}
),

factors as (
    select
        t.partnership_code,
        t.partnership_name,
        t.audit_year,
        t.period_start,
        t.period_end,
        t.issue,
        i.label as issue_label,
        i.dataset,
        t.months_covered,
        t.incidents,
        t.population,
        1000.0 * t.incidents / nullif(t.population, 0) as rate,
        t.previous_year_incidents,
        case
            when t.previous_comparable and t.previous_year_incidents > 0
                then round(100.0 * (t.incidents - t.previous_year_incidents) / t.previous_year_incidents, 1)
        end as pct_change,
        t.p_value,
        case
            when
                t.previous_audit_year is not null
                and coalesce(t.incomplete_data, t.previous_incomplete_data) is not null
                then 'incomplete data'
            else {{ change_test_verdict('t.n_prev', 't.n', 't.q_value') }}
        end as trend_verdict,
        nullif(concat_ws(
            '; ',
            case when t.incomplete_data is not null then t.audit_year || ': ' || t.incomplete_data end,
            case
                when t.previous_incomplete_data is not null
                    then t.previous_audit_year || ': ' || t.previous_incomplete_data
            end
        ), '') as incomplete_data,
        c.share_in_top_10_percent,
        1000.0 * h.weighted_incidents / nullif(h.population, 0) as harm_rate,
        i.concern,
        case
            when i.concern is null or s.partnership_code is null then null
            else coalesce(cc.share_naming, 0)
        end as share_naming,
        coalesce(cap.capacity, 3) as capacity,
        case when cap.capacity is null then 'default' else 'partnership_capacity' end as capacity_source
    from trended as t
    inner join issue_info as i
        on i.issue = t.issue
    left join concentrated as c
        on
            c.partnership_code = t.partnership_code
            and c.period_start = t.period_start
            and c.issue = t.issue
    left join harmed as h
        on
            h.partnership_code = t.partnership_code
            and h.period_start = t.period_start
            and h.issue = t.issue
    left join survey_years as s
        on
            s.partnership_code = t.partnership_code
            and s.period_start = t.period_start
    left join {{ ref('consultation_concerns') }} as cc
        on
            cc.partnership_code = t.partnership_code
            and cc.period_start = t.period_start
            and cc.concern = i.concern
    left join {{ ref('partnership_capacity') }} as cap
        on
            cap.partnership_code = t.partnership_code
            and cap.issue = t.issue
),

{%- set quintile -%}
    cast(least(5, 1 + floor(5 * percent_rank() over (
        partition by period_start, {value} is null order by round({value}, 9)
    ))) as integer)
{%- endset %}

scored as (
    select
        *,
        case when rate is not null then {{ quintile | replace('{value}', 'rate') }} end as volume_score,
        case
            when trend_verdict = 'significant increase' and pct_change >= 20 then 5
            when trend_verdict = 'significant increase' then 4
            when trend_verdict = 'significant decrease' and pct_change <= -20 then 1
            when trend_verdict = 'significant decrease' then 2
            else 3
        end as trend_score,
        case
            when share_in_top_10_percent is not null
                then {{ quintile | replace('{value}', 'share_in_top_10_percent') }}
        end as concentration_score,
        case when harm_rate is not null then {{ quintile | replace('{value}', 'harm_rate') }} end as harm_score,
        case
            when share_naming is not null
                then {{ quintile | replace('{value}', 'share_naming') }}
        end as public_concern_score
    from factors
),

combined as (
    select
        s.*,
        coalesce(
            (
                coalesce(w.w_volume * s.volume_score, 0) + w.w_trend * s.trend_score
                + coalesce(w.w_concentration * s.concentration_score, 0)
            )
            / nullif(
                case when s.volume_score is not null then w.w_volume else 0 end + w.w_trend
                + case when s.concentration_score is not null then w.w_concentration else 0 end, 0
            ),
            3
        ) as likelihood,
        coalesce(
            (coalesce(w.w_harm * s.harm_score, 0) + coalesce(w.w_public_concern * s.public_concern_score, 0))
            / nullif(
                case when s.harm_score is not null then w.w_harm else 0 end
                + case when s.public_concern_score is not null then w.w_public_concern else 0 end, 0
            ),
            3
        ) as impact,
        1 + w.w_capacity * (3 - s.capacity) / 4.0 as capacity_multiplier,
        nullif(concat_ws(
            ', ',
            case when s.volume_score is null then 'volume' end,
            case when s.concentration_score is null then 'concentration' end,
            case when s.harm_score is null then 'harm' end,
            case when s.public_concern_score is null then 'public_concern' end
        ), '') as missing_factors
    from scored as s
    cross join weights as w
),

final as (
    select
        *,
        round(likelihood * impact, 3) as risk_score,
        round(likelihood * impact * capacity_multiplier, 3) as priority_score
    from combined
),

ranked as (
    select
        *,
        rank() over (partition by partnership_code, period_start order by priority_score desc) as priority_rank,
        count(*) over (partition by partnership_code, period_start) as issues_ranked
    from final
)

select
    r.partnership_code,
    r.partnership_name,
    r.audit_year,
    r.period_start,
    r.period_end,
    r.issue,
    r.issue_label,
    r.dataset,
    cast(r.months_covered as integer) as months_covered,
    cast(round(r.incidents, 6) as double) as incidents,
    cast(round(r.rate, 3) as double) as rate_per_1000,
    cast(r.volume_score as integer) as volume_score,
    cast(round(r.previous_year_incidents, 6) as double) as previous_year_incidents,
    cast(r.pct_change as double) as pct_change,
    cast(r.p_value as double) as p_value,
    r.trend_verdict,
    cast(r.trend_score as integer) as trend_score,
    cast(round(r.share_in_top_10_percent, 4) as double) as share_in_top_10_percent,
    cast(r.concentration_score as integer) as concentration_score,
    cast(round(r.harm_rate, 3) as double) as weighted_incidents_per_1000,
    cast(r.harm_score as integer) as harm_score,
    r.concern,
    cast(r.share_naming as double) as share_naming,
    cast(r.public_concern_score as integer) as public_concern_score,
    cast(r.capacity as integer) as capacity,
    r.capacity_source,
    cast(round(r.likelihood, 3) as double) as likelihood,
    cast(round(r.impact, 3) as double) as impact,
    cast(r.risk_score as double) as risk_score,
    cast(round(r.capacity_multiplier, 3) as double) as capacity_multiplier,
    cast(r.priority_score as double) as priority_score,
    cast(r.priority_rank as integer) as priority_rank,
    cast(r.issues_ranked as integer) as issues_ranked,
    cast(p.priority_rank as integer) as previous_priority_rank,
    cast(case when r.incomplete_data is null then p.priority_rank - r.priority_rank end as integer) as rank_change,
    r.missing_factors,
    r.incomplete_data
from ranked as r
left join ranked as p
    on
        p.partnership_code = r.partnership_code
        and p.issue = r.issue
        and p.period_start = cast(r.period_start - interval 1 year as date)
order by r.partnership_code, r.period_start, r.priority_rank, r.issue
