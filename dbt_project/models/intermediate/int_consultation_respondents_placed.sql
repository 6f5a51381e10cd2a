{{ config(materialized='ephemeral') }}
{#- Ephemeral: each counted consultation response placed on the region's partnerships.
    A response carries the respondent's postcode district; the district's LSOA shares
    (int_apportionment_weights_normalised, geography key of the plan's consultation_survey
    dataset, e.g. 'postcode_district', weighted by addresses) say which fraction of the district
    lies in each partnership, and the response counts as that fraction of a respondent there.
    The fractions of one response add up to 1 over all the district's LSOAs; the part of a
    district outside the region is lost (a respondent of a district wholly outside the region
    counts nowhere). Only rows int_agency_rows_classified counts are used: current deliveries,
    not quarantined, not duplicated, on an area the lookups know. -#}
with survey_geography as (
    select distinct geography_key
    from {{ ref('stg_plan__datasets') }}
    where dataset = 'consultation_survey'
),

responses as (
    select
        r.delivery_sha256,
        r.row_number,
        r.response_pseudonym,
        r.response_date,
        r.area_code,
        lower(trim(r.top_concern_1)) as concern_1,
        lower(trim(r.top_concern_2)) as concern_2,
        lower(trim(r.top_concern_3)) as concern_3,
        lower(trim(r.feel_safe_day)) as feel_safe_day,
        lower(trim(r.feel_safe_night)) as feel_safe_night
    from {{ ref('stg_agencies__consultation_responses') }} as r
    inner join {{ ref('int_agency_rows_classified') }} as c
        on
            c.delivery_sha256 = r.delivery_sha256
            and c.row_number = r.row_number
    where
        c.dataset = 'consultation_survey'
        and c.row_status = 'counted'
        and r.response_date is not null
),

placed as (
    select
        r.delivery_sha256,
        r.row_number,
        w.partnership_code,
        sum(w.share) as weight
    from responses as r
    inner join {{ ref('int_apportionment_weights_normalised') }} as w
        on
            w.area_code = r.area_code
            and w.geography_key in (select geography_key from survey_geography)
    where w.in_region
    group by r.delivery_sha256, r.row_number, w.partnership_code
)

select
    r.delivery_sha256,
    r.row_number,
    r.response_pseudonym,
    p.partnership_code,
    rp.partnership_name,
    cast({{ audit_year_start('r.response_date') }} as date) as period_start,
    {{ audit_year_label(audit_year_start('r.response_date')) }} as audit_year,
    p.weight,
    r.concern_1,
    r.concern_2,
    r.concern_3,
    r.feel_safe_day,
    r.feel_safe_night
from responses as r
inner join placed as p
    on
        p.delivery_sha256 = r.delivery_sha256
        and p.row_number = r.row_number
inner join {{ ref('stg_geography__region_partnerships') }} as rp
    on rp.partnership_code = p.partnership_code
where p.weight > 0
