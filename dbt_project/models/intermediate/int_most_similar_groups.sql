{#- Each region partnership's most similar group: the published group where the region gives one
    (comparators.groups), else its group_size nearest neighbours among every partnership of the
    characteristics file, as the Home Office builds its groups: each characteristic standardised
    across all partnerships (z = (value - mean) / standard deviation), distance = Euclidean
    distance over the standardised characteristics, ties broken by code. A partnership lacking a
    characteristic is never a neighbour (distances would not compare). -#}
with settings as (
    select coalesce(max(group_size), 7) as group_size from {{ ref('stg_geography__comparator_settings') }}
),

region as (
    select partnership_code from {{ ref('stg_geography__region_partnerships') }}
),

characteristics as (
    select partnership_code, characteristic, characteristic_value
    from {{ ref('stg_geography__comparator_characteristics') }}
),

described as (
    select
        count(distinct characteristic) as characteristics,
        string_agg(distinct characteristic, ', ' order by characteristic) as names
    from characteristics
),

standardised as (
    select
        partnership_code,
        characteristic,
        (characteristic_value - avg(characteristic_value) over (partition by characteristic))
        / nullif(stddev_pop(characteristic_value) over (partition by characteristic), 0) as z
    from characteristics
),

distances as (
    select
        a.partnership_code,
        b.partnership_code as member_code,
        sqrt(sum(power(coalesce(a.z, 0) - coalesce(b.z, 0), 2))) as distance,
        count(*) as compared
    from standardised as a
    inner join standardised as b
        on a.characteristic = b.characteristic and a.partnership_code <> b.partnership_code
    where a.partnership_code in (select r.partnership_code from region as r)
    group by a.partnership_code, b.partnership_code
),

published as (
    select
        g.partnership_code,
        g.member_code,
        cast(null as double) as distance,
        cast(row_number() over (partition by g.partnership_code order by g.member_code) as integer) as member_rank,
        'published' as method
    from {{ ref('stg_geography__comparator_groups') }} as g
    where g.partnership_code in (select r.partnership_code from region as r)
),

nearest as (
    select
        d.partnership_code,
        d.member_code,
        d.distance,
        cast(row_number() over (partition by d.partnership_code order by d.distance, d.member_code) as integer)
            as member_rank,
        'nearest neighbours on standardised ' || (select names from described) as method
    from distances as d
    where
        d.compared = (select characteristics from described)
        and d.partnership_code not in (select p.partnership_code from published as p)
    qualify member_rank <= (select group_size from settings)
)

select * from published
union all
select * from nearest
