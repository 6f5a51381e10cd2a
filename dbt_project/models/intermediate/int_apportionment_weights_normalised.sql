{#-
  How a count delivered on one area is spread over LSOAs: share = weight / area total, so the
  shares of every area sum to 1 and apportionment never creates or loses incidents.
    lsoa_<vintage>             an LSOA is itself: share 1, method exact
    ward_<vintage> / local_authority_<vintage> of the region's LSOA lookup: the area's LSOAs,
                               weighted by resident population (equal shares if none is set)
    anything else              the region's apportionment lookups (older wards, postcode
                               districts, station grounds ...), weighted as configured
-#}
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
lsoas as (
    select l.*, p.population
    from {{ ref('stg_geography__lsoas') }} as l
    left join {{ ref('stg_geography__populations') }} as p using (lsoa_code)
),
weights as (
    select 'lsoa_' || (select v from lsoa_vintage) as geography_key, lsoa_code as area_code, lsoa_code,
           1.0 as weight, 'identity' as basis
    from lsoas
    union all
    select 'ward_' || (select v from ward_vintage), ward_code, lsoa_code,
           coalesce(population, 1), case when population is null then 'equal' else 'population' end
    from lsoas
    union all
    select 'local_authority_' || (select v from lad_vintage), lad_code, lsoa_code,
           coalesce(population, 1), case when population is null then 'equal' else 'population' end
    from lsoas
    union all
    select geography_key, area_code, lsoa_code, weight, basis
    from {{ ref('stg_geography__apportionment_weights') }}
),
normalised as (
    select
        geography_key, area_code, lsoa_code, basis, weight,
        weight / sum(weight) over (partition by geography_key, area_code) as share,
        count(*) over (partition by geography_key, area_code) as lsoas_in_area
    from weights
    where weight > 0
)
select
    n.*,
    case when n.geography_key like 'lsoa_%' then 'exact' else 'apportioned' end as method,
    g.partnership_code,
    coalesce(g.in_region, false) as in_region,
    -- the whole area lies in one partnership, so the partnership's total is exact even if the LSOA split is not
    count(distinct coalesce(g.partnership_code, '?')) over (partition by n.geography_key, n.area_code) = 1
        as area_in_one_partnership
from normalised as n
left join {{ ref('stg_geography__lsoas') }} as g using (lsoa_code)
