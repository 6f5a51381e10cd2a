-- The top 10% of LSOAs by incidents always hold at least their even-spread share (the largest
-- k of n counts average at least the mean); anything else means the ranking is wrong.
select *
from {{ ref('concentration') }}
where
    incidents > 0
    and share_in_top_10_percent < even_spread_share - 0.0001
