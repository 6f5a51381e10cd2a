{#- Seasonal profile per partnership, dataset and category over every covered month in the
    warehouse: the mean count in each calendar month and a seasonal index = that mean divided by
    the mean of the calendar-month means (so the indices of the observed months average 1;
    1.20 means 20% above a typical month). For a quarterly dataset the profile is by quarter,
    on each quarter's first month. -#}
with monthly as (
    select
        partnership_code,
        partnership_name,
        dataset,
        category,
        cast(month("month") as integer) as calendar_month,
        incidents
    from {{ ref('area_monthly') }}
    where area_type = 'partnership'
),

by_month as (
    select
        partnership_code,
        dataset,
        category,
        calendar_month,
        any_value(partnership_name) as partnership_name,
        count(*) as months_observed,
        {{ exact_sum('incidents') }} / count(incidents) as mean_monthly_incidents
    from monthly
    group by partnership_code, dataset, category, calendar_month
),

profile as (
    select
        *,
        {{ exact_sum('mean_monthly_incidents', 'over w') }} / count(*) over w as mean_of_monthly_means,
        count(*) over w as calendar_months_observed
    from by_month
    window w as (partition by partnership_code, dataset, category)
)

select
    partnership_code,
    partnership_name,
    dataset,
    category,
    calendar_month,
    monthname(make_date(2000, calendar_month, 1)) as month_name,
    cast(months_observed as integer) as months_observed,
    cast(calendar_months_observed as integer) as calendar_months_observed,
    cast(round(mean_monthly_incidents, 3) as double) as mean_monthly_incidents,
    cast(round(mean_of_monthly_means, 3) as double) as mean_of_monthly_means,
    cast(round(mean_monthly_incidents / nullif(mean_of_monthly_means, 0), 3) as double) as seasonal_index
from profile
order by partnership_code, dataset, category, calendar_month
