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

{#- Quasi-Poisson allowance for overdispersion. Monthly counts of crime vary more than a Poisson
    count would (repeat victimisation, seasonal peaks, recording drives), so a test that treats
    every incident as independent finds "significant" changes too often. The dispersion of a year
    is the Pearson chi-square of its period counts about the year's period mean divided by its
    degrees of freedom: phi = sum((x_i - mean)^2 / mean) / (k - 1), k periods (months, or quarters
    for datasets delivered by quarter). Two years compared pool their chi-squares and degrees of
    freedom, phi = (X2_1 + X2_2) / (df_1 + df_2), floored at 1 (no test is made sharper than the
    Poisson one) and 1 when neither year has two periods. The counts are then divided by phi
    before the exact conditional test (the variance of a quasi-Poisson count is phi x its mean, so
    n / phi is the Poisson count carrying the same information: the "effective count" of a design
    effect), rounded to whole incidents; with phi = 1 the test is the exact test above. -#}
{% macro pooled_dispersion(chi_square_1, df_1, chi_square_2, df_2) -%}
    greatest(1.0, coalesce(
        (coalesce({{ chi_square_1 }}, 0) + coalesce({{ chi_square_2 }}, 0))
        / nullif(coalesce({{ df_1 }}, 0) + coalesce({{ df_2 }}, 0), 0),
        1.0
    ))
{%- endmacro %}

{#- Counts scaled by a dispersion, as BIGINT for poisson_change_p_value. -#}
{% macro effective_count(n, dispersion) -%}
    cast(round({{ n }} / {{ dispersion }}) as bigint)
{%- endmacro %}

{#- Benjamini-Hochberg adjusted p-values (q-values) of p_value across the rows of one family
    (partition_by), in two window steps because a window function cannot hold another:
      bh_raw:  m x p_(i) / i, rows ordered by p ascending (order_by breaks ties), m = the family's tests
      bh_q:    q_(i) = min over j >= i of bh_raw_(j), capped at 1
    Null where p_value is null. A change is kept when q < 0.05: among the changes kept, the expected
    share of false discoveries is then at most 5%. Tied p-values get the same q. -#}
{% macro bh_raw(p_value, partition_by, order_by) -%}
    case when {{ p_value }} is not null then
        {{ p_value }} * (count({{ p_value }}) over (partition by {{ partition_by }}))
        / (row_number() over (
            partition by {{ partition_by }}, {{ p_value }} is null order by {{ p_value }}, {{ order_by }}
        ))
    end
{%- endmacro %}

{% macro bh_q(raw, p_value, partition_by, order_by) -%}
    case when {{ p_value }} is not null then least(1.0, min({{ raw }}) over (
        partition by {{ partition_by }}, {{ p_value }} is null
        order by {{ p_value }} desc, {{ order_by }} desc
        rows between unbounded preceding and current row
    )) end
{%- endmacro %}
