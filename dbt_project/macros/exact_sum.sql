{#- A sum of fractional counts that does not depend on the order DuckDB's threads add the rows in:
    each value is taken as an exact decimal (9 places, far below any published rounding) and the
    total turned back into a double. Identical runs then give byte-identical marts. `clause` is a
    FILTER or OVER clause of the aggregate. -#}
{% macro exact_sum(expression, clause='') -%}
    cast(sum(cast({{ expression }} as decimal(38, 9))) {{ clause }} as double)
{%- endmacro %}
