{{ config(materialized='ephemeral') }}
{#- Which LSOAs make up each audit area: every region LSOA belongs to itself, to its ward and
    to its partnership. A ward is keyed together with its partnership, so a ward of a LAD split
    between partnerships appears once per partnership, holding only that partnership's LSOAs. -#}
with lsoas as (
    select l.lsoa_code, l.lsoa_name, l.ward_code, l.ward_name, l.partnership_code, p.partnership_name
    from {{ ref('stg_geography__lsoas') }} as l
    inner join {{ ref('stg_geography__region_partnerships') }} as p
        on p.partnership_code = l.partnership_code
)

select
    'partnership' as area_type,
    partnership_code as area_code,
    partnership_name as area_name,
    cast(null as varchar) as ward_code,
    partnership_code,
    partnership_name,
    lsoa_code
from lsoas
union all
select 'ward', ward_code, ward_name, ward_code, partnership_code, partnership_name, lsoa_code  -- noqa: AL08
from lsoas
where ward_code is not null
union all
select 'lsoa', lsoa_code, lsoa_name, ward_code, partnership_code, partnership_name, lsoa_code  -- noqa: AL08
from lsoas
