{#- Yearly marts summed from a by-month mart (area_rates from area_monthly): rebuild only the audit
    years whose inputs changed since the last build.

    The state kept beside the mart (`<mart>__built_from` in the intermediate schema) holds one
    fingerprint per audit year, made of the fingerprints area_monthly keeps of the harmonised fact's
    months in that year (macros/incremental_by_month.sql) and of the year's LSOA populations, and one
    `structure` fingerprint: area_monthly's own structure (areas, grains, categories, its SQL), this
    model's SQL and the project's. On the next build:

    - the years whose fingerprint differs, or that are new, are deleted and inserted again;
    - years that vanished (every month of them withdrawn) are deleted;
    - if the structure changed, or there is no state, every year is rebuilt.

    A year's rows depend only on its months and its populations, so a refresh that adds one month
    rebuilds one year. The whole build runs on a copy swapped in only when every test passed, so the
    rows and the state never disagree.
-#}

{#- The per-year fingerprints from area_monthly's per-month state (the mart's `monthly` relation). -#}
{% macro year_fingerprints_sql(monthly) -%}
    {%- set months = built_from_relation(monthly.identifier) -%}
    with month_years as (
        select cast({{ audit_year_start('"month"') }} as date) as period_start, fingerprint, "rows"
        from {{ months }}
        where kind = 'month'
    ),

    population_years as (
        select period_start, sum(hash(p)::hugeint) as fingerprint
        from {{ ref('int_lsoa_populations_by_year') }} as p
        group by period_start
    )

    select
        'year' as kind,
        m.period_start,
        sum(m.fingerprint) + coalesce(any_value(p.fingerprint), 0) as fingerprint,
        sum(m."rows") as "rows"
    from month_years as m
    left join population_years as p using (period_start)
    group by m.period_start
    union all
    select
        'structure' as kind,
        cast(null as date) as period_start,
        (select fingerprint from {{ months }} where kind = 'structure')
        + hash('{{ local_md5(model.raw_code) }}', '{{ var('sql_fingerprint') }}')::hugeint as fingerprint,
        0 as "rows"
{%- endmacro %}

{#- The audit years to (re)build (the machinery is incremental_by_month.sql's, by period). -#}
{% macro changed_years_sql(monthly) -%}
    {{- changed_periods_sql(year_fingerprints_sql(monthly), 'year', 'period_start',
        "select period_start from (" ~ year_fingerprints_sql(monthly) ~ ") as f where kind = 'year'") -}}
{%- endmacro %}

{% macro delete_changed_years(monthly) -%}
    {{ delete_changed_periods('period_start', changed_years_sql(monthly)) }}
{%- endmacro %}

{% macro only_changed_years(column) -%}{{ only_changed_periods(column, 'period_start') }}{%- endmacro %}

{% macro save_years_built_from(monthly) -%}
    {{ save_periods_built_from(year_fingerprints_sql(monthly), 'period_start') }}
{%- endmacro %}
