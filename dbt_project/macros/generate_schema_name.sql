{#- Use the configured schema names as they are (staging, intermediate, audit) rather than
    dbt's default "<target>_<custom>": analysts query audit.<mart>, a stable public name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
