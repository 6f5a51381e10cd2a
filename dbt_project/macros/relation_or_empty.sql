{#- A plan dataset's raw table exists only once the dataset has delivered. Until then staging
    reads an empty relation with the same columns, so a region without that agency still builds. -#}
{% macro relation_or_empty(source_name, table_name, columns) -%}
    {%- set rel = source(source_name, table_name) -%}
    {%- set found = adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) if execute else rel -%}
    {%- if found is not none -%}
        {{ rel }}
    {%- else -%}
        (select cast(null as varchar) as _sha256, cast(null as varchar) as _source_file,
                cast(null as bigint) as _row_number, cast(null as timestamp) as _loaded_at
         {%- for c in columns %}, cast(null as varchar) as "{{ c }}"{% endfor %} where false)
    {%- endif -%}
{%- endmacro %}
