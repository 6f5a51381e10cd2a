{% test unique_combination(model, columns, rebuilt_months_only=false) %}
{#- Fails on every combination of the given columns that occurs more than once.

    The rows are first grouped on a 64-bit hash of the combination (8 bytes a row, rather than the
    columns' strings: at national scale the plain group by on six keys of a by-month mart ran out of
    DuckDB's memory limit); only the hashes seen more than once are then checked on the columns
    themselves, so a hash collision can never pass or fail the test by itself.

    rebuilt_months_only: for a mart built by month (macros/incremental_by_month.sql) whose columns
    include "month", check only the months the last build rebuilt. The other months are the rows a
    previous build wrote and tested, untouched since, and a combination that includes the month cannot
    repeat across months. -#}
{%- set key = columns | join(', ') -%}
{%- if rebuilt_months_only -%}
    {%- set state = built_from_relation(model.identifier) -%}
{%- endif %}
with tested as (
    select * from {{ model }}
    {%- if rebuilt_months_only %}
    where "month" in (select s."month" from {{ state }} as s where s.kind = 'month' and s.rebuilt)
    {%- endif %}
),

repeated_hashes as (
    select hash({{ key }}) as key_hash
    from tested
    group by key_hash
    having count(*) > 1
)

select {{ key }}, count(*) as occurrences
from tested
where hash({{ key }}) in (select r.key_hash from repeated_hashes as r)
group by {{ key }}
having count(*) > 1
{% endtest %}
