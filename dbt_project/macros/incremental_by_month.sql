{#- Marts rebuilt by month: only the months whose inputs changed since the last build.

    A mart built this way keeps, beside it in the intermediate schema, the state it was built from
    (`<mart>__built_from`; `rebuilt` says whether the last build rebuilt the month): one fingerprint
    per month of the harmonised fact (a sum of row hashes, so repeated identical rows count, with
    the row count) and one `structure` fingerprint of everything that is not per month (the areas,
    the datasets' grains, the categories, the audit-year start, the model's own SQL and the
    project's). On the next build:

    - the months whose fingerprint differs, or that are new, are deleted and inserted again;
    - months that vanished from the fact (a delivery withdrawn) are deleted;
    - if the structure changed, or there is no state, every month is rebuilt.

    Whatever changed a month (a new delivery, a corrected re-delivery superseding an earlier one, a
    Crime ID reappearing in a later month and moving its count, a quarantine rule, a lookup), the
    fingerprint sees it, because it is computed from the fact itself, not from a list of deliveries.
    The state is saved by the model's post-hook in the same transaction as the rows, and the whole
    build runs on a copy swapped in only when every test passed, so the two never disagree.
-#}

{#- `<mart>__built_from` beside the fact (this model's, unless another mart is named). -#}
{% macro built_from_relation(mart=none) -%}
    {%- set fact = ref('int_incidents_harmonised') -%}
    {{- return(api.Relation.create(database=fact.database, schema=fact.schema, identifier=(mart or this.identifier) ~ '__built_from')) -}}
{%- endmacro %}

{#- Everything a by-month mart reads that is not per month: the areas (from the views the ephemeral
    int_area_lsoas reads: a hook cannot read an ephemeral model; the mart names them in
    depends_on), the datasets' grains, the categories each dataset has recorded, the audit-year start, the model's own SQL and the
    project's (var sql_fingerprint, set by the pipeline: a changed macro can change any month). -#}
{% macro structure_fingerprint_sql() -%}
    select
        (select coalesce(sum(hash(l)::hugeint), 0) + count(*) from {{ ref('stg_geography__lsoas') }} as l)
        + (select coalesce(sum(hash(p)::hugeint), 0) from {{ ref('stg_geography__region_partnerships') }} as p)
        + (select coalesce(sum(hash(d.dataset, d.time_grain)::hugeint), 0) from {{ ref('stg_plan__datasets') }} as d)
        + (
            select coalesce(sum(hash(c.dataset, c.category)::hugeint), 0)
            from (select distinct dataset, category from {{ ref('int_incidents_harmonised') }}) as c
        )
        + hash({{ var('audit_year_start_month') }}, '{{ local_md5(model.raw_code) }}', '{{ var('sql_fingerprint') }}')::hugeint
{%- endmacro %}

{% macro month_fingerprints_sql() -%}
    select
        'month' as kind,
        cast("month" as date) as "month",
        sum(hash(dataset, category, partnership_code, lsoa_code, incidents)::hugeint) as fingerprint,
        count(*) as "rows"
    from {{ ref('int_incidents_harmonised') }}
    group by all
    union all
    select 'structure' as kind, cast(null as date) as "month", ({{ structure_fingerprint_sql() }}) as fingerprint, 0 as "rows"
{%- endmacro %}

{#- The months to (re)build, as a query of one column `month`; with no state, every month. -#}
{% macro changed_months_sql() -%}
    {{- changed_periods_sql(month_fingerprints_sql(), 'month', '"month"',
        'select distinct cast("month" as date) as "month" from ' ~ ref('int_incidents_harmonised')) -}}
{%- endmacro %}

{% macro delete_changed_months() -%}{{ delete_changed_periods('"month"', changed_months_sql()) }}{%- endmacro %}

{% macro only_changed_months(month_column) -%}{{ only_changed_periods(month_column, '"month"') }}{%- endmacro %}

{% macro save_built_from() -%}{{ save_periods_built_from(month_fingerprints_sql(), '"month"') }}{%- endmacro %}

{#- ---- shared by the marts built by month and by audit year (incremental_by_year.sql) --------------
    fingerprints_sql: rows (kind, <column>, fingerprint, "rows"), one per period of `kind` and one of
    kind 'structure'; first_sql: every period, for a build with no state yet. -#}

{#- The periods to (re)build, as a query of one column: new or changed periods, vanished ones, and
    every period when the structure changed or there is no state. -#}
{% macro changed_periods_sql(fingerprints_sql, kind, column, first_sql) -%}
    {%- set saved = built_from_relation() -%}
    {%- set state = adapter.get_relation(database=saved.database, schema=saved.schema, identifier=saved.identifier) if execute else none -%}
    {%- if state is none -%}
        {{ first_sql }}
        union
        select distinct {{ column }} from {{ this }}
    {%- else -%}
        with now_ as ({{ fingerprints_sql }}),
        structure_changed as (
            select
                (select fingerprint from now_ where kind = 'structure')
                is distinct from (select fingerprint from {{ state }} where kind = 'structure') as changed
        )
        select n.{{ column }} from now_ as n
        where n.kind = '{{ kind }}' and (
            (select changed from structure_changed)
            or not exists (
                select 1 from {{ state }} as s
                where s.kind = '{{ kind }}' and s.{{ column }} = n.{{ column }} and s.fingerprint = n.fingerprint
                    and s."rows" = n."rows"
            )
        )
        union
        select {{ column }} from {{ state }}
        where kind = '{{ kind }}' and {{ column }} not in (select {{ column }} from now_ where kind = '{{ kind }}')
        union
        select distinct {{ column }} from {{ this }} where (select changed from structure_changed)
    {%- endif -%}
{%- endmacro %}

{#- pre-hook: delete the periods to rebuild (the model then appends their rows). -#}
{% macro delete_changed_periods(column, changed_sql) -%}
    {%- if is_incremental() -%}
        create or replace temporary table {{ this.identifier }}__changed as {{ changed_sql }};
        delete from {{ this }} where {{ column }} in (select {{ column }} from {{ this.identifier }}__changed);
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- in the model: keep only the periods to rebuild (every period on a first or full build). -#}
{% macro only_changed_periods(expression, column) -%}
    {%- if is_incremental() -%}
        {{ expression }} in (select {{ column }} from {{ this.identifier }}__changed)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- post-hook: record what this build was made from, and which periods it rebuilt. -#}
{% macro save_periods_built_from(fingerprints_sql, column) -%}
    create or replace table {{ built_from_relation() }} as
    select
        f.*,
        {% if is_incremental() -%}
            f.{{ column }} in (select {{ column }} from {{ this.identifier }}__changed)
        {%- else -%}
            f.kind <> 'structure'
        {%- endif %} as rebuilt
    from ({{ fingerprints_sql }}) as f
{%- endmacro %}
