{#-
  Every row of every current delivery of the plan's agency datasets, in one shape:
  (dataset, agency, month, area_code, category, count). Each row gets one row_status:
    quarantined  failed a quarantine rule of the gate (reason = the rules)
    duplicate    an exact repeat of an earlier row of the same aggregate delivery (counted once)
    superseded   from a delivery replaced by a later corrected one for the same period
    unlocated    its area code has no LSOA weights (an area the region's lookups do not cover)
    counted      placed on LSOAs by int_agency_counts_placed
  geography_key names the weights that place the row; by_fallback marks a row placed by the plan's
  fallback geography because its own area code is blank (an ED attendance whose incident location
  was not coded, placed by the patient's home postcode district).
  Consultation responses are opinions, not incidents: they are accounted for here with a null
  count (so they are never placed as incidents) and feed the consultation marts instead.
-#}
with unioned as (
    select
        'fire_incidents' as dataset, delivery_sha256, source_file, row_number, "month", area_code,
        fire_category || ': ' || property_type as category, incidents as count_value,
        concat_ws('|', "month", area_code, fire_category, property_type) as row_key,
        false as by_fallback
    from {{ ref('stg_agencies__fire_incidents') }}
    union all
    select
        'ed_assaults', delivery_sha256, source_file, row_number, date_trunc('month', incident_date),
        coalesce(incident_area_code, home_area_code), means_of_assault, 1,
        concat_ws('|', patient_pseudonym, incident_date, incident_time, arrival_at, row_number),
        incident_area_code is null  -- where the assault happened is not coded: the patient's home area
    from {{ ref('stg_agencies__ed_assaults') }}
    union all
    select
        'la_asb_reports', delivery_sha256, source_file, row_number, "month", area_code,
        report_type || coalesce(': ' || report_category, ''), reports,
        concat_ws('|', "month", area_code, report_type, report_category), false
    from {{ ref('stg_agencies__la_asb_reports') }}
    union all
    select
        'yot_first_time_entrants', delivery_sha256, source_file, row_number, quarter_start, area_code,
        'First-time entrants ' || age_band, first_time_entrants,
        concat_ws('|', quarter_start, area_code, age_band), false
    from {{ ref('stg_agencies__yot_first_time_entrants') }}
    union all
    select
        'probation_caseload', delivery_sha256, source_file, row_number, quarter_start, area_code,
        offence_group, caseload, concat_ws('|', quarter_start, area_code, offence_group), false
    from {{ ref('stg_agencies__probation_caseloads') }}
    union all
    select
        'housing_asb_complaints', delivery_sha256, source_file, row_number, "month", lsoa_code,
        complaint_category, complaints, concat_ws('|', "month", lsoa_code, complaint_category), false
    from {{ ref('stg_agencies__housing_asb_complaints') }}
    union all
    -- new treatment journeys: a flow that adds up over quarters (in_treatment is a stock)
    select
        'substance_misuse_treatment', delivery_sha256, source_file, row_number, quarter_start, area_code,
        substance_group, new_presentations, concat_ws('|', quarter_start, area_code, substance_group), false
    from {{ ref('stg_agencies__substance_misuse_treatments') }}
    union all
    -- people who reoffended (reoffences counts their offences; offenders is the cohort)
    select
        'proven_reoffending', delivery_sha256, source_file, row_number, quarter_start, area_code,
        cohort_type, reoffenders, concat_ws('|', quarter_start, area_code, cohort_type), false
    from {{ ref('stg_agencies__proven_reoffending_cohorts') }}
    union all
    select
        'domestic_abuse_incidents', delivery_sha256, source_file, row_number, "month", lsoa_code,
        record_type, incidents, concat_ws('|', "month", lsoa_code, record_type, repeat_victim), false
    from {{ ref('stg_agencies__domestic_abuse_incidents') }}
    union all
    select
        'consultation_survey', delivery_sha256, source_file, row_number, date_trunc('month', response_date),
        area_code, top_concern_1, cast(null as bigint), concat_ws('|', response_pseudonym, row_number), false
    from {{ ref('stg_agencies__consultation_responses') }}
),

failures as (
    select delivery_sha256, row_number, string_agg(distinct rule, ';' order by rule) as rules
    from {{ ref('stg_deliveries__row_failures') }}
    group by all
),

placeable as (
    select distinct geography_key, area_code
    from {{ ref('int_apportionment_weights_normalised') }}
),

-- a row without its area code is placed by the plan's fallback geography (ISTV: the home area)
keyed as (
    select
        u.*,
        case when u.by_fallback then coalesce(p.fallback_geography_key, p.geography_key) else p.geography_key end
            as geography_key
    from unioned as u
    left join {{ ref('stg_plan__datasets') }} as p using (dataset)
),

tagged as (
    select
        u.*,
        pl.area_code is not null as placeable,
        d.agency,
        d.period,
        d.is_current,
        f.rules,
        row_number() over (partition by u.delivery_sha256, u.row_key order by u.row_number) as key_rank
    from keyed as u
    inner join {{ ref('int_deliveries') }} as d using (delivery_sha256)
    left join failures as f using (delivery_sha256, row_number)
    left join placeable as pl on pl.geography_key = u.geography_key and pl.area_code = u.area_code
)

select
    dataset, agency, period, delivery_sha256, source_file, row_number,
    "month", area_code, category, count_value,
    case
        when not is_current then 'superseded'
        when rules is not null then 'quarantined'
        when key_rank > 1 then 'duplicate'
        when not placeable then 'unlocated'
        else 'counted'
    end as row_status,
    rules as quarantine_reason,
    geography_key,
    by_fallback
from tagged
