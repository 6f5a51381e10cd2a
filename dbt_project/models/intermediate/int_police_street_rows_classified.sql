{#-
  Applies the counting rules to every row of every current delivery; each row gets exactly one
  row_status, so the reconciliation can account for every row read:
    quarantined    failed a quarantine rule of the GX gate, or its LSOA code is unknown to the
                   lookup (often a boundary-vintage mismatch)
    duplicate      a further row for a (force, Crime ID) already counted (the force is the agency
                   that publishes the file: its plan agency, or its police.uk slug)
    unlocated      no LSOA
    outside_region its LSOA lies in a partnership outside the region
    counted        one crime (Crime ID) or one incident (no Crime ID)
  Among rows sharing a (force, Crime ID) the kept row is the one with an LSOA, then with an
  informative outcome, then the latest month, then the first file and row (deterministic).
  The partnership comes from the LSOA, never from "Falls within".
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

placed as (
    select
        r.*,
        g.lsoa_code as known_lsoa_code,
        g.partnership_code,
        g.partnership_name,
        g.ward_code,
        g.in_region,
        case
            when f.rules is not null then f.rules
            when r.lsoa_code is not null and g.lsoa_code is null then 'lsoa_not_in_lookup'
        end as quarantine_reason
    from current_rows as r
    left join gate_failures as f
        on r.delivery_sha256 = f.delivery_sha256 and r.row_number = f.row_number
    left join {{ ref('stg_geography__lsoas') }} as g
        on r.lsoa_code = g.lsoa_code
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
    quarantine_reason
from ranked
