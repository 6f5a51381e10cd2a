{#- Audit year arithmetic. A month belongs to the audit year that starts in the most recent
    start month on or before it; with the default April start, 2019-02 is in 2018/19. -#}
{% macro audit_year_start(month_col) -%}
    {%- set m0 = var('audit_year_start_month') | int -%}
    make_date(
        cast(year({{ month_col }}) - case when month({{ month_col }}) < {{ m0 }} then 1 else 0 end as integer),
        {{ m0 }}, 1)
{%- endmacro %}

{% macro audit_year_label(start_col) -%}
    {%- set m0 = var('audit_year_start_month') | int -%}
    {%- if m0 == 1 -%}
        cast(year({{ start_col }}) as varchar)
    {%- else -%}
        cast(year({{ start_col }}) as varchar) || '/' || lpad(cast((year({{ start_col }}) + 1) % 100 as varchar), 2, '0')
    {%- endif -%}
{%- endmacro %}
