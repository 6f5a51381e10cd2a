{#- Each public concern's rank (consultation_concerns) beside the recorded picture for the same
    partnership and audit year: the concern's recorded rate per 1,000 residents (its primary
    dataset and categories in the seed concern_categories; supporting sources shown, never
    added) and, for police.uk categories, its crime severity per 1,000 (harm). Ranks are taken
    within the concerns that have a recorded rate (or a harm figure), public and recorded alike,
    so both run 1..n over the same set; rank_gap = recorded rank - public rank. A gap of
    var('concern_rank_gap', 2) places or more either way is flagged. A recorded figure (or harm
    figure) from an incomplete year of its dataset (int_incomplete_years: a month whose deliveries
    are missing, rejected or overdue) is short: that concern is left out of the ranks (its mismatch
    is 'incomplete data') and incomplete_data names the dataset, agencies and months. -#}
{%- set gap = var('concern_rank_gap', 2) | int %}
with concerns as (
    select * from {{ ref('consultation_concerns') }}
),

mapping as (
    select lower(trim(concern)) as concern, dataset, category as pattern, role
    from {{ ref('concern_categories') }}
),

primary_datasets as (
    select distinct concern, dataset from mapping
    where role = 'primary'
),

rate_categories as (
    select distinct dataset, category from {{ ref('area_rates') }}
    where area_type = 'partnership'
),

matched as (
    select distinct m.concern, m.dataset, m.role, r.category
    from mapping as m
    inner join rate_categories as r
        on
            r.dataset = m.dataset
            and case
                when m.pattern = 'All' then r.category = 'All'
                else r.category <> 'All' and r.category ilike m.pattern
            end
),

recorded as (
    select
        r.partnership_code,
        r.period_start,
        m.concern,
        m.dataset,
        m.role,
        string_agg(r.category, ', ' order by r.category) as categories,
        any_value(r.months_covered) as months_covered,
        {{ exact_sum('r.incidents') }} as incidents,
        any_value(r.population) as population
    from matched as m
    inner join {{ ref('area_rates') }} as r
        on
            r.dataset = m.dataset
            and r.category = m.category
            and r.area_type = 'partnership'
    group by r.partnership_code, r.period_start, m.concern, m.dataset, m.role
),

supporting as (
    select
        partnership_code,
        period_start,
        concern,
        string_agg(
            dataset || ' ' || coalesce(
                cast(round(1000.0 * incidents / nullif(population, 0), 3) as varchar),
                cast(round(incidents, 1) as varchar) || ' incidents'
            ) || ' per 1,000',
            '; ' order by dataset
        ) as supporting_sources
    from recorded
    where role = 'supporting'
    group by partnership_code, period_start, concern
),

harmed as (
    select
        h.partnership_code, h.period_start, m.concern, sum(h.weighted_incidents) as weighted_incidents,
        any_value(h.population) as population
    from matched as m
    inner join {{ ref('harm') }} as h
        on
            h.dataset = m.dataset
            and h.category = m.category
    where m.role = 'primary'
    group by h.partnership_code, h.period_start, m.concern
),

joined as (
    select
        c.partnership_code,
        c.partnership_name,
        c.audit_year,
        c.period_start,
        c.period_end,
        c.concern,
        c.respondents,
        c.share_naming,
        c.concern_rank as public_rank,
        pd.dataset as recorded_dataset,
        r.categories as recorded_categories,
        r.months_covered as recorded_months_covered,
        r.incidents as recorded_incidents,
        1000.0 * r.incidents / nullif(r.population, 0) as recorded_rate,
        s.supporting_sources,
        1000.0 * h.weighted_incidents / nullif(h.population, 0) as harm_rate,
        case when r.incidents is not null then ri.incomplete_data end as recorded_incomplete,
        case when h.weighted_incidents is not null then hi.incomplete_data end as harm_incomplete
    from concerns as c
    left join primary_datasets as pd
        on pd.concern = c.concern
    left join recorded as r
        on
            r.partnership_code = c.partnership_code
            and r.period_start = c.period_start
            and r.concern = c.concern
            and r.dataset = pd.dataset
            and r.role = 'primary'
    left join supporting as s
        on
            s.partnership_code = c.partnership_code
            and s.period_start = c.period_start
            and s.concern = c.concern
    left join harmed as h
        on
            h.partnership_code = c.partnership_code
            and h.period_start = c.period_start
            and h.concern = c.concern
    left join {{ ref('int_incomplete_years') }} as ri
        on
            ri.partnership_code = c.partnership_code
            and ri.period_start = c.period_start
            and ri.dataset = pd.dataset
    left join {{ ref('int_incomplete_years') }} as hi
        on
            hi.partnership_code = c.partnership_code
            and hi.period_start = c.period_start
            and hi.dataset = 'police_uk_street'
),

flagged as (
    select
        *,
        recorded_rate is not null and recorded_incomplete is null as recorded_ranked,
        harm_rate is not null and harm_incomplete is null as harm_ranked
    from joined
),

ranked as (
    select
        *,
        case when recorded_ranked then count(*) filter (where recorded_ranked) over w end as concerns_compared,
        case when recorded_ranked then rank() over (
            partition by partnership_code, period_start, recorded_ranked order by round(share_naming, 9) desc
        ) end as public_rank_compared,
        case when recorded_ranked then rank() over (
            partition by partnership_code, period_start, recorded_ranked order by round(recorded_rate, 9) desc
        ) end as recorded_rank,
        case when harm_ranked then count(*) filter (where harm_ranked) over w end as concerns_with_harm,
        case when harm_ranked then rank() over (
            partition by partnership_code, period_start, harm_ranked order by round(share_naming, 9) desc
        ) end as public_rank_harm_compared,
        case when harm_ranked then rank() over (
            partition by partnership_code, period_start, harm_ranked order by round(harm_rate, 9) desc
        ) end as harm_rank
    from flagged
    window w as (partition by partnership_code, period_start)
)

select
    partnership_code,
    partnership_name,
    audit_year,
    period_start,
    period_end,
    concern,
    respondents,
    share_naming,
    public_rank,
    recorded_dataset,
    recorded_categories,
    cast(recorded_months_covered as integer) as recorded_months_covered,
    cast(round(recorded_incidents, 6) as double) as recorded_incidents,
    cast(round(recorded_rate, 3) as double) as recorded_rate_per_1000,
    supporting_sources,
    cast(concerns_compared as integer) as concerns_compared,
    cast(public_rank_compared as integer) as public_rank_compared,
    cast(recorded_rank as integer) as recorded_rank,
    cast(recorded_rank - public_rank_compared as integer) as rank_gap,
    case
        when recorded_rate is null then 'no recorded data'
        when recorded_incomplete is not null then 'incomplete data'
        when recorded_rank - public_rank_compared >= {{ gap }} then 'public concern higher than recorded'
        when public_rank_compared - recorded_rank >= {{ gap }} then 'recorded higher than concern'
        else 'in line'
    end as mismatch,
    cast(round(harm_rate, 3) as double) as weighted_incidents_per_1000,
    cast(concerns_with_harm as integer) as concerns_with_harm,
    cast(public_rank_harm_compared as integer) as public_rank_harm_compared,
    cast(harm_rank as integer) as harm_rank,
    cast(harm_rank - public_rank_harm_compared as integer) as harm_rank_gap,
    case
        when harm_rate is null then 'no harm measure'
        when harm_incomplete is not null then 'incomplete data'
        when harm_rank - public_rank_harm_compared >= {{ gap }} then 'public concern higher than recorded'
        when public_rank_harm_compared - harm_rank >= {{ gap }} then 'recorded higher than concern'
        else 'in line'
    end as harm_mismatch,
    nullif(concat_ws(
        '; ',
        case when recorded_incomplete is not null then recorded_dataset || ': ' || recorded_incomplete end,
        case
            when
                harm_incomplete is not null
                and (recorded_incomplete is null or recorded_dataset is distinct from 'police_uk_street')
                then 'police_uk_street: ' || harm_incomplete
        end
    ), '') as incomplete_data
from ranked
order by partnership_code, period_start, public_rank, concern
