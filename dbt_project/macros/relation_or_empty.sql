{#- A plan dataset's raw table exists only once the dataset has delivered. Until then staging
    reads an empty relation with the same columns, so a region without that agency still builds.
    A raw table loaded under an earlier contract may lack a column a later one added (an optional
    column such as ISTV's incident location): it reads as null. -#}
{% macro relation_or_empty(source_name, table_name, columns) -%}
    {%- set rel = source(source_name, table_name) -%}
    {%- set found = adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) if execute else rel -%}
    {%- if found is not none -%}
        {%- set have = (adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list) if execute else (columns | map('lower') | list) -%}
        {%- set missing = [] -%}
        {%- for c in columns if c | lower not in have %}{% do missing.append(c) %}{% endfor -%}
        {%- if missing -%}
            (select *{% for c in missing %}, cast(null as varchar) as "{{ c }}"{% endfor %} from {{ rel }})
        {%- else -%}
            {{ rel }}
        {%- endif -%}
    {%- else -%}
        (select cast(null as varchar) as _sha256, cast(null as varchar) as _source_file,
                cast(null as bigint) as _row_number, cast(null as timestamp) as _loaded_at
         {%- for c in columns %}, cast(null as varchar) as "{{ c }}"{% endfor %} where false)
    {%- endif -%}
{%- endmacro %}
