{#- Generic tests used by the audit marts. -#}

{% test value_between(model, column_name, min_value=none, max_value=none) %}
{#- Fails on every non-null value outside [min_value, max_value] (either bound may be omitted). -#}
select {{ column_name }} as failing_value
from {{ model }}
where {{ column_name }} is not null
  and (
    false
    {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
    {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
  )
{% endtest %}
