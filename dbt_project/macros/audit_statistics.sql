{#-
  Statistics for the audit marts, kept in one place so every mart tests change the same way.

  Year-on-year change of a count: the exact conditional binomial test for two Poisson counts
  (Przyborowski & Wilenski 1940; the "C-test"). If the counts n1 (earlier) and n2 (later) come
  from Poisson processes with equal exposure (the same months covered and the same resident
  population), then given n = n1 + n2 the later count n2 ~ Binomial(n, 0.5) when the underlying
  rate has not changed. The two-sided p-value is 2 * P(X <= min(n1, n2)) for X ~ Binomial(n, 0.5),
  capped at 1; for p = 0.5 the distribution is symmetric, so this equals scipy's
  binomtest(n2, n, 0.5).pvalue and R's binom.test(n2, n, 0.5)$p.value.

  The lower tail is summed term by term from log-gamma. Terms more than 10 * sqrt(n) below
  min(n1, n2) (20 standard deviations) are below 1e-80 of the largest term and are left out, so
  the sum costs at most 10 * sqrt(n) + 1 terms (about 3,200 for n = 100,000) at full precision.
-#}

{#- Fewest incidents in the two compared periods together for which the test can reach
    p < 0.05: with 5 or fewer, even 5 against 0 gives p = 0.0625. Below this the verdict is
    'insufficient data' and no p-value is given. -#}
{% macro change_test_min_incidents() -%}6{%- endmacro %}

{% macro change_test_alpha() -%}0.05{%- endmacro %}

{#- Two-sided p-value of the exact conditional binomial test; n1 and n2 are BIGINT expressions
    (round apportioned counts first). -#}
{% macro poisson_change_p_value(n1, n2) -%}
    least(1.0, 2.0 * list_sum(list_transform(
        range(
            greatest(0, least({{ n1 }}, {{ n2 }}) - cast(ceil(10 * sqrt({{ n1 }} + {{ n2 }})) as bigint)),
            least({{ n1 }}, {{ n2 }}) + 1
        ),
        lambda i: exp(
            lgamma({{ n1 }} + {{ n2 }} + 1) - lgamma(i + 1) - lgamma({{ n1 }} + {{ n2 }} - i + 1)
            - ({{ n1 }} + {{ n2 }}) * ln(2)
        )
    )))
{%- endmacro %}

{#- p-value when the two periods are comparable and hold enough incidents, else null. -#}
{% macro change_test_p_value(n1, n2, comparable) -%}
    case
        when {{ comparable }} and {{ n1 }} + {{ n2 }} >= {{ change_test_min_incidents() }}
            then {{ poisson_change_p_value(n1, n2) }}
    end
{%- endmacro %}

{#- Verdict at alpha 0.05, two-sided; p_value is the column built with change_test_p_value. -#}
{% macro change_test_verdict(n1, n2, p_value) -%}
    case
        when {{ p_value }} is null then 'insufficient data'
        when {{ p_value }} < {{ change_test_alpha() }} and {{ n2 }} > {{ n1 }} then 'significant increase'
        when {{ p_value }} < {{ change_test_alpha() }} then 'significant decrease'
        else 'no significant change'
    end
{%- endmacro %}
