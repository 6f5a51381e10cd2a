{#- What the public worries about: per partnership, survey (audit) year and concern, the
    respondents naming the concern among their top three and their share of the partnership's
    respondents. Respondents are placed on partnerships through their postcode district's LSOA
    shares (consultation_respondents_placed), so they are fractional: a respondent of a district
    split 70/30 between two partnerships counts 0.7 in one and 0.3 in the other. A concern named
    twice by one respondent counts once, at its best position. Every concern named anywhere in
    the region that year has a row for every partnership with respondents, zeros included, so
    ranks compare across partnerships. -#}
with mentions as (
    select delivery_sha256, row_number, partnership_code, period_start, weight, concern, min(pos) as best_pos
    from (
        select delivery_sha256, row_number, partnership_code, period_start, weight, concern_1 as concern, 1 as pos
        from {{ ref('int_consultation_respondents_placed') }}
        union all
        select delivery_sha256, row_number, partnership_code, period_start, weight, concern_2, 2
        from {{ ref('int_consultation_respondents_placed') }}
        union all
        select delivery_sha256, row_number, partnership_code, period_start, weight, concern_3, 3
        from {{ ref('int_consultation_respondents_placed') }}
    ) as u
    where concern is not null and concern <> ''
    group by delivery_sha256, row_number, partnership_code, period_start, weight, concern
),

partnership_years as (
    select
        partnership_code,
        any_value(partnership_name) as partnership_name,
        period_start,
        any_value(audit_year) as audit_year,
        sum(weight) as respondents,
        count(*) as responses
    from {{ ref('int_consultation_respondents_placed') }}
    group by partnership_code, period_start
),

region_concerns as (
    select distinct period_start, concern from mentions
),

counts as (
    select
        partnership_code,
        period_start,
        concern,
        sum(weight) as respondents_naming,
        sum(weight) filter (where best_pos = 1) as respondents_first,
        count(*) as responses_naming
    from mentions
    group by partnership_code, period_start, concern
),

shares as (
    select
        p.partnership_code,
        p.partnership_name,
        p.audit_year,
        p.period_start,
        c.concern,
        p.responses,
        p.respondents,
        coalesce(n.responses_naming, 0) as responses_naming,
        coalesce(n.respondents_naming, 0) as respondents_naming,
        coalesce(n.respondents_first, 0) as respondents_first,
        coalesce(n.respondents_naming, 0) / p.respondents as share
    from partnership_years as p
    inner join region_concerns as c
        on c.period_start = p.period_start
    left join counts as n
        on
            n.partnership_code = p.partnership_code
            and n.period_start = p.period_start
            and n.concern = c.concern
),

-- 95% Wilson score interval for the share, with the (fractional) respondents as n
wilson as (
    select
        *,
        1.959964 as z,
        (share + 1.959964 ^ 2 / (2 * respondents)) / (1 + 1.959964 ^ 2 / respondents) as centre,
        1.959964 * sqrt(share * (1 - share) / respondents + 1.959964 ^ 2 / (4 * respondents ^ 2))
        / (1 + 1.959964 ^ 2 / respondents) as half_width
    from shares
)

select
    partnership_code,
    partnership_name,
    audit_year,
    period_start,
    cast(period_start + interval 1 year - interval 1 day as date) as period_end,
    concern,
    cast(responses as integer) as responses,
    cast(round(respondents, 4) as double) as respondents,
    cast(responses_naming as integer) as responses_naming,
    cast(round(respondents_naming, 4) as double) as respondents_naming,
    cast(round(respondents_first, 4) as double) as respondents_first,
    cast(round(share, 4) as double) as share_naming,
    cast(round(greatest(0, centre - half_width), 4) as double) as share_low_95,
    cast(round(least(1, centre + half_width), 4) as double) as share_high_95,
    cast(rank() over (
        partition by partnership_code, period_start order by round(share, 9) desc
    ) as integer) as concern_rank,
    cast(count(*) over (partition by partnership_code, period_start) as integer) as concerns_ranked
from wilson
order by partnership_code, period_start, concern_rank, concern
