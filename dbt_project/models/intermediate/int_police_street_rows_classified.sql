{#-
  Applies the counting rules to every row of every current delivery; each row gets exactly one
  row_status, so the reconciliation can account for every row read:
    quarantined    failed a quarantine rule of the GX gate, or its LSOA code is unknown to the
                   lookup and to every census change lookup of the region (lsoa_not_in_lookup), or
                   a change lookup would spread it over several partnerships
                   (lsoa_change_crosses_partnerships)
    duplicate      a further row for a (force, Crime ID) already counted (the force is the agency
                   that publishes the file: its plan agency, or its police.uk slug)
    unlocated      no LSOA
    outside_region its LSOA lies in a partnership outside the region
    counted        one crime (Crime ID) or one incident (no Crime ID)
  Among rows sharing a (force, Crime ID) the kept row is the one with an LSOA, then with an
  informative outcome, then the latest month, then the first file and row (deterministic).
  The partnership comes from the LSOA, never from "Falls within".
  A code of another LSOA vintage (police.uk moved from 2011 to 2021 LSOAs) that a census change lookup
  of the region restates (geography.apportionment area_type lsoa) is counted: restated_from names the
  lookup, and int_incidents_harmonised places the row on the region's LSOAs by its shares (a whole
  count for unchanged, merged or split-into areas, population shares otherwise). Its partnership is the
  one all its region LSOAs lie in; ward_code is set only when they share one ward.
-#}
with current_rows as (
    select r.*, d.agency
    from {{ ref('stg_police_uk__street_rows') }} as r
    inner join {{ ref('int_deliveries') }} as d
        on r.delivery_sha256 = d.delivery_sha256
    where d.is_current
),

gate_failures as (
    select delivery_sha256, row_number, string_agg(distinct rule, ';' order by rule) as rules
    from {{ ref('stg_deliveries__row_failures') }}
    group by delivery_sha256, row_number
),

-- codes of another LSOA vintage that a census change lookup restates: one lookup per code (the first)
restatable as (
    select
        w.area_code,
        w.geography_key as restated_from,
        bool_and(w.area_in_one_partnership) as in_one_partnership,
        any_value(w.partnership_code) as partnership_code,
        any_value(g.partnership_name) as partnership_name,
        case when count(distinct g.ward_code) = 1 then any_value(g.ward_code) end as ward_code,
        bool_or(w.in_region) as in_region
    from {{ ref('int_apportionment_weights_normalised') }} as w
    left join {{ ref('stg_geography__lsoas') }} as g on w.lsoa_code = g.lsoa_code
    where
        w.geography_key like 'lsoa%'
        and w.area_code not in (select l.lsoa_code from {{ ref('stg_geography__lsoas') }} as l)
    group by w.area_code, w.geography_key
    qualify row_number() over (partition by w.area_code order by w.geography_key) = 1
),

placed as (
    select
        r.*,
        g.lsoa_code as known_lsoa_code,
        coalesce(g.partnership_code, c.partnership_code) as partnership_code,
        coalesce(g.partnership_name, c.partnership_name) as partnership_name,
        coalesce(g.ward_code, c.ward_code) as ward_code,
        coalesce(g.in_region, c.in_region) as in_region,
        case when g.lsoa_code is null then c.restated_from end as restated_from,
        case
            when f.rules is not null then f.rules
            when r.lsoa_code is not null and g.lsoa_code is null and c.area_code is null then 'lsoa_not_in_lookup'
            when g.lsoa_code is null and not c.in_one_partnership then 'lsoa_change_crosses_partnerships'
        end as quarantine_reason
    from current_rows as r
    left join gate_failures as f
        on r.delivery_sha256 = f.delivery_sha256 and r.row_number = f.row_number
    left join {{ ref('stg_geography__lsoas') }} as g
        on r.lsoa_code = g.lsoa_code
    left join restatable as c
        on r.lsoa_code = c.area_code
),

ranked as (
    select
        *,
        case
            when quarantine_reason is null and crime_id is not null then
                row_number() over (
                    partition by agency, crime_id, quarantine_reason is null
                    order by
                        lsoa_code is null,
                        coalesce(last_outcome, 'Status update unavailable') = 'Status update unavailable',
                        "month" desc,
                        source_file,
                        row_number
                )
        end as crime_rank
    from placed
)

select
    delivery_sha256,
    source_file,
    row_number,
    agency,
    crime_id,
    "month",
    crime_type,
    last_outcome,
    location,
    longitude,
    latitude,
    lsoa_code,
    ward_code,
    partnership_code,
    partnership_name,
    case
        when quarantine_reason is not null then 'quarantined'
        when crime_rank > 1 then 'duplicate'
        when lsoa_code is null then 'unlocated'
        when not in_region then 'outside_region'
        else 'counted'
    end as row_status,
    quarantine_reason,
    case when quarantine_reason is null then restated_from end as restated_from
from ranked
