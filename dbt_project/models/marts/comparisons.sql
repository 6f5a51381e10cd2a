{#- Each partnership's rate per 1,000 residents set against three kinds of comparator, per
    dataset, category and audit year (one row per comparator):
      partnership  every other partnership of the region (its neighbours), one row each;
      peer_group   the mean of the rates of the other members of its peer group (seed
                   peer_groups; no row when the partnership has no group or no peer has a rate);
      region       the region as a whole: all its partnerships' incidents over all their
                   residents (null when any partnership lacks a population);
      national     England and Wales: all partnerships' published incidents over their residents
                   (region key comparators.partnership_rates);
      most_similar_group  the pooled published rate of the partnership's most similar group
                   (int_most_similar_groups: published, or nearest neighbours on characteristics).
    rate_ratio = rate / comparator rate. rank_in_region ranks the partnerships of the region by
    rate (1 = highest). coverage_matches says whether every partnership in the comparator covers
    as many months of the year as this one; where it is false the rates span different periods.
    A partnership-year with a month whose deliveries are missing, rejected or overdue
    (int_incomplete_years) is incomplete: its rate is short, so it is ranked with no one (its
    rank_in_region is null and the others are ranked among the complete partnerships),
    incomplete_data and comparator_incomplete_data name the agencies and months, and like_for_like
    is false: the comparison is shown, marked, never a finding. -#}
with partnerships as (
    select
        r.partnership_code,
        r.partnership_name,
        r.dataset,
        r.category,
        r.audit_year,
        r.period_start,
        r.period_end,
        r.months_covered,
        r.incidents,
        r.population,
        1000.0 * r.incidents / nullif(r.population, 0) as rate,
        i.incomplete_data
    from {{ ref('area_rates') }} as r
    left join {{ ref('int_incomplete_years') }} as i using (partnership_code, dataset, period_start)
    where r.area_type = 'partnership'
),

ranked as (
    select
        p.*,
        g.peer_group,
        case when p.rate is not null and p.incomplete_data is null then rank() over (
            partition by p.dataset, p.category, p.period_start, p.rate is null or p.incomplete_data is not null
            order by p.rate desc
        ) end as rank_in_region,
        count(p.rate) filter (where p.incomplete_data is null) over (
            partition by p.dataset, p.category, p.period_start
        ) as partnerships_ranked
    from partnerships as p
    left join {{ ref('peer_groups') }} as g
        on g.partnership_code = p.partnership_code
),

region as (
    select
        dataset,
        category,
        period_start,
        count(*) as partnerships,
        case
            when count(population) = count(*)
                then 1000.0 * {{ exact_sum('incidents') }} / nullif(sum(population), 0)
        end
            as rate,
        min(months_covered) as min_months,
        max(months_covered) as max_months,
        -- a complete partnership's text is null, which string_agg leaves out
        string_agg(partnership_name || ': ' || incomplete_data, '; ' order by partnership_code) as incomplete_data
    from partnerships
    group by dataset, category, period_start
),

published as (
    select * from {{ ref('stg_geography__comparator_partnership_rates') }}
),

national as (
    select
        dataset,
        category,
        period_start,
        count(distinct partnership_code) as partnerships,
        1000.0 * {{ exact_sum('incidents') }} / nullif({{ exact_sum('population') }}, 0) as rate
    from published
    group by dataset, category, period_start
),

comparators as (
    select
        r.partnership_code,
        r.dataset,
        r.category,
        r.period_start,
        'partnership' as comparator_type,
        o.partnership_code as comparator_code,
        o.partnership_name as comparator_name,
        1 as comparator_partnerships,
        o.rate as comparator_rate,
        o.months_covered = r.months_covered as coverage_matches,
        o.partnership_name || ': ' || o.incomplete_data as comparator_incomplete_data
    from ranked as r
    inner join partnerships as o
        on
            o.dataset = r.dataset
            and o.category = r.category
            and o.period_start = r.period_start
            and o.partnership_code <> r.partnership_code
    union all
    select
        r.partnership_code,
        r.dataset,
        r.category,
        r.period_start,
        'peer_group',
        r.peer_group,
        'Peer group ' || r.peer_group || ' (mean of the other members)',
        count(o.rate),
        {{ exact_sum('o.rate') }} / count(o.rate),
        bool_and(o.months_covered = r.months_covered),
        string_agg(o.partnership_name || ': ' || o.incomplete_data, '; ' order by o.partnership_code)
    from ranked as r
    inner join {{ ref('peer_groups') }} as g
        on
            g.peer_group = r.peer_group
            and g.partnership_code <> r.partnership_code
    inner join partnerships as o
        on
            o.partnership_code = g.partnership_code
            and o.dataset = r.dataset
            and o.category = r.category
            and o.period_start = r.period_start
    where o.rate is not null
    group by r.partnership_code, r.dataset, r.category, r.period_start, r.peer_group, r.months_covered
    union all
    select
        r.partnership_code,
        r.dataset,
        r.category,
        r.period_start,
        'region',
        '{{ var("region_name") }}',
        'Region {{ var("region_name") }} (all its partnerships)',
        g.partnerships,
        g.rate,
        g.min_months = r.months_covered and g.max_months = r.months_covered,
        g.incomplete_data
    from ranked as r
    inner join region as g
        on
            g.dataset = r.dataset
            and g.category = r.category
            and g.period_start = r.period_start
    union all
    -- published figures are whole audit years: like for like with a partnership's complete year only
    select
        r.partnership_code,
        r.dataset,
        r.category,
        r.period_start,
        'national',
        'K04000001',
        'England and Wales (published figures, ' || g.partnerships || ' partnerships)',
        g.partnerships,
        g.rate,
        r.months_covered = 12,
        cast(null as varchar)
    from ranked as r
    inner join national as g
        on
            g.dataset = r.dataset
            and g.category = r.category
            and g.period_start = r.period_start
    union all
    select
        r.partnership_code,
        r.dataset,
        r.category,
        r.period_start,
        'most_similar_group',
        'MSG ' || r.partnership_code,
        'Most similar group (' || count(*) || ' partnerships, ' || any_value(m.method) || ')',
        count(*),
        1000.0 * {{ exact_sum('p.incidents') }} / nullif({{ exact_sum('p.population') }}, 0),
        r.months_covered = 12,
        cast(null as varchar)
    from ranked as r
    inner join {{ ref('int_most_similar_groups') }} as m
        on m.partnership_code = r.partnership_code
    inner join published as p
        on
            p.partnership_code = m.member_code
            and p.dataset = r.dataset
            and p.category = r.category
            and p.period_start = r.period_start
    group by r.partnership_code, r.dataset, r.category, r.period_start, r.months_covered
)

select
    r.partnership_code,
    r.partnership_name,
    r.dataset,
    r.category,
    r.audit_year,
    r.period_start,
    r.period_end,
    r.months_covered,
    r.incidents,
    r.population,
    cast(round(r.rate, 3) as double) as rate_per_1000,
    cast(r.rank_in_region as integer) as rank_in_region,
    cast(r.partnerships_ranked as integer) as partnerships_ranked,
    r.peer_group,
    c.comparator_type,
    c.comparator_code,
    c.comparator_name,
    cast(c.comparator_partnerships as integer) as comparator_partnerships,
    cast(round(c.comparator_rate, 3) as double) as comparator_rate_per_1000,
    cast(round(r.rate / nullif(c.comparator_rate, 0), 3) as double) as rate_ratio,
    c.coverage_matches,
    r.incomplete_data,
    c.comparator_incomplete_data,
    coalesce(c.coverage_matches, false) and r.incomplete_data is null and c.comparator_incomplete_data is null
        as like_for_like
from ranked as r
inner join comparators as c
    on
        c.partnership_code = r.partnership_code
        and c.dataset = r.dataset
        and c.category = r.category
        and c.period_start = r.period_start
order by r.partnership_code, r.dataset, r.category, r.period_start, c.comparator_type, c.comparator_code
