{#- How safe people feel, per partnership and survey (audit) year, by day and after dark:
    the share of respondents answering 'very safe' or 'fairly safe' (and 'fairly unsafe' or
    'very unsafe') among those who answered on the five-point scale. Answers are compared
    lower-case and trimmed; 'neither' (or 'neither safe nor unsafe') counts in the denominator;
    any other answer (blank, "don't know") is left out of it. Respondents are the fractional
    respondents of consultation_respondents_placed. -#}
with classified as (
    select
        *,
        case
            when feel_safe_day in ('very safe', 'fairly safe') then 'safe'
            when feel_safe_day in ('fairly unsafe', 'very unsafe') then 'unsafe'
            when feel_safe_day like 'neither%' then 'neither'
        end as day_answer,
        case
            when feel_safe_night in ('very safe', 'fairly safe') then 'safe'
            when feel_safe_night in ('fairly unsafe', 'very unsafe') then 'unsafe'
            when feel_safe_night like 'neither%' then 'neither'
        end as night_answer
    from {{ ref('int_consultation_respondents_placed') }}
),

totals as (
    select
        partnership_code,
        any_value(partnership_name) as partnership_name,
        any_value(audit_year) as audit_year,
        period_start,
        count(*) as responses,
        sum(weight) as respondents,
        sum(weight) filter (where day_answer is not null) as answered_day,
        sum(weight) filter (where day_answer = 'safe') as safe_day,
        sum(weight) filter (where day_answer = 'unsafe') as unsafe_day,
        sum(weight) filter (where night_answer is not null) as answered_night,
        sum(weight) filter (where night_answer = 'safe') as safe_night,
        sum(weight) filter (where night_answer = 'unsafe') as unsafe_night
    from classified
    group by partnership_code, period_start
)

select
    partnership_code,
    partnership_name,
    audit_year,
    period_start,
    cast(period_start + interval 1 year - interval 1 day as date) as period_end,
    cast(responses as integer) as responses,
    cast(round(respondents, 4) as double) as respondents,
    cast(round(coalesce(answered_day, 0), 4) as double) as respondents_answered_day,
    cast(round(coalesce(safe_day, 0) / nullif(answered_day, 0), 4) as double) as share_safe_day,
    cast(round(coalesce(unsafe_day, 0) / nullif(answered_day, 0), 4) as double) as share_unsafe_day,
    cast(round(coalesce(answered_night, 0), 4) as double) as respondents_answered_night,
    cast(round(coalesce(safe_night, 0) / nullif(answered_night, 0), 4) as double) as share_safe_night,
    cast(round(coalesce(unsafe_night, 0) / nullif(answered_night, 0), 4) as double) as share_unsafe_night
from totals
order by partnership_code, period_start
