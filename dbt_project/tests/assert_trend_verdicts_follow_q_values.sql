-- A significant verdict needs a Benjamini-Hochberg q below 0.05 (and q < 0.05 gives one); q is never below p.
select partnership_code, dataset, category, period_start, p_value, q_value, verdict
from {{ ref('trends') }}
where
    (verdict like 'significant%' and not coalesce(q_value < 0.05, false))
    or (q_value < 0.05 and verdict not like 'significant%')
    or (three_year_verdict like 'significant%' and not coalesce(three_year_q_value < 0.05, false))
    or q_value < p_value * (1 - 1e-12)
    or three_year_q_value < three_year_p_value * (1 - 1e-12)
    or (p_value is null) <> (q_value is null)
