{#-
  How a count delivered on one area is spread over LSOAs: share = weight / area total, so the
  shares of every area sum to 1 and apportionment never creates or loses incidents.
    lsoa_<vintage> of the region's LSOA lookup
                               an LSOA is itself: share 1, method exact
    ward_<vintage> / local_authority_<vintage> of the region's LSOA lookup: the area's LSOAs,
                               weighted by resident population (equal shares if none is set)
    lsoa_<older vintage>       an ONS census change lookup (LSOA01 -> LSOA11 ..., CHGIND): unchanged (U)
                               and merged (M) LSOAs go whole to one new LSOA (method exact); split (S)
                               and irregular (X) ones are spread by population (method apportioned)
    anything else              the region's apportionment lookups (older wards, postcode
                               districts, station grounds ...), weighted as configured
  like_for_like is false only for irregular (X) census changes, whose old and new LSOAs are not unions of
  each other: a comparison over time across such a change partly reflects the new boundary.
-#}
{%- set apportionment_source = source('geography', 'geo_apportionment') -%}
{%- set has_like_for_like = false -%}
{%- if execute -%}
    {%- set found = adapter.get_relation(
        database=apportionment_source.database,
        schema=apportionment_source.schema,
        identifier=apportionment_source.identifier) -%}
    {%- if found is not none -%}
        {%- set columns = adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list -%}
        {%- set has_like_for_like = 'like_for_like' in columns -%}
    {%- endif -%}
{%- endif %}
with lsoa_vintage as (
    select '20' || vintage as v from {{ ref('stg_geography__vintages') }}
    where "lookup" = 'lsoa_lookup' and "level" = 'lsoa'
),

ward_vintage as (
    select '20' || vintage as v from {{ ref('stg_geography__vintages') }}
    where "lookup" = 'lsoa_lookup' and "level" = 'ward'
),

lad_vintage as (
    select '20' || vintage as v from {{ ref('stg_geography__vintages') }}
    where "lookup" = 'lsoa_lookup' and "level" = 'lad'
),

-- weights do not change by year: the latest estimate of each LSOA
latest_populations as (
    select lsoa_code, population
    from {{ ref('stg_geography__populations') }}
    qualify row_number() over (partition by lsoa_code order by population_year desc nulls last) = 1
),

lsoas as (
    select l.*, p.population
    from {{ ref('stg_geography__lsoas') }} as l
    left join latest_populations as p using (lsoa_code)
),

-- the lookup's own like-for-like flag (raw.geo_apportionment written before it existed has none)
lookup_flags as (
    {%- if has_like_for_like %}
    select geography as geography_key, upper(area_code) as area_code, lsoa_code,
           bool_and(coalesce(cast(like_for_like as boolean), true)) as like_for_like
    from {{ apportionment_source }}
    group by all
{%- else %}
        select
            cast(null as varchar) as geography_key, cast(null as varchar) as area_code,
            cast(null as varchar) as lsoa_code, cast(null as boolean) as like_for_like
        where false
    {%- endif %}
),

weights as (
    select
        'lsoa_' || (select v from lsoa_vintage) as geography_key, lsoa_code as area_code, lsoa_code,
        1.0 as weight, 'identity' as basis, 'identity' as kind, true as like_for_like
    from lsoas
    union all
    select
        'ward_' || (select v from ward_vintage), ward_code, lsoa_code,
        coalesce(population, 1), case when population is null then 'equal' else 'population' end,
        'region_lookup', true
    from lsoas
    union all
    select
        'local_authority_' || (select v from lad_vintage), lad_code, lsoa_code,
        coalesce(population, 1), case when population is null then 'equal' else 'population' end,
        'region_lookup', true
    from lsoas
    union all
    select
        a.geography_key, a.area_code, a.lsoa_code, a.weight, a.basis,
        case when a.geography_key like 'lsoa_%' then 'census_change' else 'apportionment_lookup' end,
        coalesce(f.like_for_like, true)
    from {{ ref('stg_geography__apportionment_weights') }} as a
    left join lookup_flags as f using (geography_key, area_code, lsoa_code)
),

normalised as (
    select
        geography_key, area_code, lsoa_code, basis, weight,
        weight / sum(weight) over (partition by geography_key, area_code) as share,
        count(*) over (partition by geography_key, area_code) as lsoas_in_area,
        kind, like_for_like
    from weights
    where weight > 0
)

select
    n.geography_key, n.area_code, n.lsoa_code, n.basis, n.weight, n.share, n.lsoas_in_area,
    case
        when n.kind = 'identity' then 'exact'
        -- unchanged or merged LSOA: the whole count lands on one LSOA of the region's vintage
        when n.kind = 'census_change' and n.like_for_like and n.lsoas_in_area = 1 then 'exact'
        else 'apportioned'
    end as method,
    g.partnership_code,
    coalesce(g.in_region, false) as in_region,
    -- the whole area lies in one partnership, so the partnership's total is exact even if the LSOA split is not
    count(distinct coalesce(g.partnership_code, '?')) over (partition by n.geography_key, n.area_code) = 1
        as area_in_one_partnership,
    n.like_for_like
from normalised as n
left join {{ ref('stg_geography__lsoas') }} as g using (lsoa_code)
