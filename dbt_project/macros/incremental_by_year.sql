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

{% macro year_state_relation() -%}
    {%- set fact = ref('int_incidents_harmonised') -%}
    {{- return(api.Relation.create(database=fact.database, schema=fact.schema, identifier=this.identifier ~ '__built_from')) -}}
{%- endmacro %}

{% macro year_fingerprints_sql(monthly) -%}
    {%- set months = api.Relation.create(database=monthly.database, schema='intermediate', identifier=monthly.identifier ~ '__built_from') -%}
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
        sum(m.fingerprint) + sum(m."rows") + coalesce(any_value(p.fingerprint), 0) as fingerprint
    from month_years as m
    left join population_years as p using (period_start)
    group by m.period_start
    union all
    select
        'structure' as kind,
        cast(null as date) as period_start,
        (select fingerprint from {{ months }} where kind = 'structure')
        + hash('{{ local_md5(model.raw_code) }}', '{{ var('sql_fingerprint') }}')::hugeint as fingerprint
{%- endmacro %}

{#- The audit years to (re)build, as a query of one column `period_start`. -#}
{% macro changed_years_sql(monthly) -%}
    {%- set saved = year_state_relation() -%}
    {%- set state = adapter.get_relation(database=saved.database, schema=saved.schema, identifier=saved.identifier) if execute else none -%}
    {%- if state is none -%}
        select distinct period_start from {{ this }}
        union
        select distinct period_start from ({{ year_fingerprints_sql(monthly) }}) as f where kind = 'year'
    {%- else -%}
        with now_ as ({{ year_fingerprints_sql(monthly) }}),
        structure_changed as (
            select
                (select fingerprint from now_ where kind = 'structure')
                is distinct from (select fingerprint from {{ state }} where kind = 'structure') as changed
        )
        select n.period_start from now_ as n
        where n.kind = 'year' and (
            (select changed from structure_changed)
            or not exists (
                select 1 from {{ state }} as s
                where s.kind = 'year' and s.period_start = n.period_start and s.fingerprint = n.fingerprint
            )
        )
        union
        select period_start from {{ state }}
        where kind = 'year' and period_start not in (select period_start from now_ where kind = 'year')
        union
        select distinct period_start from {{ this }} where (select changed from structure_changed)
    {%- endif -%}
{%- endmacro %}

{#- pre-hook: delete the years to rebuild (the model then appends their rows). -#}
{% macro delete_changed_years(monthly) -%}
    {%- if is_incremental() -%}
        create or replace temporary table {{ this.identifier }}__years as {{ changed_years_sql(monthly) }};
        delete from {{ this }} where period_start in (select period_start from {{ this.identifier }}__years);
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- in the model: keep only the years to rebuild (every year on a first or full build). -#}
{% macro only_changed_years(column) -%}
    {%- if is_incremental() -%}
        {{ column }} in (select period_start from {{ this.identifier }}__years)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- post-hook: record what this build was made from. -#}
{% macro save_years_built_from(monthly) -%}
    create or replace table {{ year_state_relation() }} as
    select
        f.*,
        {% if is_incremental() -%}
            f.period_start in (select period_start from {{ this.identifier }}__years)
        {%- else -%}
            f.kind = 'year'
        {%- endif %} as rebuilt
    from ({{ year_fingerprints_sql(monthly) }}) as f
{%- endmacro %}
