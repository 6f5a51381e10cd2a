{#- Every loaded delivery, and the one rule that says which counts, for police.uk files and agency
    data alike. Each ingest records what its source holds (raw.landing_seen); a delivery
    arrives at the first scan that sees its bytes after one that did not. For each dataset, agency
    and period, of the deliveries loaded the current one is the one in the source now that arrived
    last (a re-export or correction supersedes, an A -> B -> A restore ends with A); when the file in
    the source now was rejected, the last good delivery stays current (and is marked stale
    elsewhere); when the source holds nothing for the period any more, nothing is current, so a
    removed file's rows leave the marts. File modification times never decide. A warehouse without
    scans (an earlier version) keeps the old rule: the latest received. Every delivery stays stored
    so every figure can name its delivery. -#}
with scans as (
    select
        dataset,
        scan_id,
        lag(scan_id) over (partition by dataset order by scan_id) as previous_scan_id,
        scan_id = max(scan_id) over (partition by dataset) as is_latest
    from {{ ref('stg_deliveries__landing_scans') }}
),

seen as (
    select distinct
        s.dataset,
        s.scan_id,
        s.previous_scan_id,
        s.is_latest,
        f.delivery_sha256,
        f.agency,
        f.period
    from {{ ref('stg_deliveries__landing_sightings') }} as f
    inner join scans as s on f.dataset = s.dataset and f.scan_id = s.scan_id
),

arrivals as (
    select
        n.dataset,
        n.delivery_sha256,
        max(n.scan_id) filter (where p.delivery_sha256 is null) as arrival_scan_id,
        bool_or(n.is_latest) as in_source_now
    from seen as n
    left join seen as p
        on
            n.dataset = p.dataset
            and n.previous_scan_id = p.scan_id
            and n.delivery_sha256 = p.delivery_sha256
    group by n.dataset, n.delivery_sha256
),

in_source as (
    select distinct
        dataset,
        agency,
        period
    from seen
    where is_latest
),

scanned as (
    select distinct dataset from scans
),

ranked as (
    select
        d.*,
        a.arrival_scan_id,
        coalesce(a.in_source_now, false) as in_source_now,
        k.dataset is not null as period_in_source,
        sc.dataset is not null as dataset_scanned,
        row_number() over (
            partition by d.dataset, d.agency, d.period
            order by
                coalesce(a.in_source_now, false) desc,
                a.arrival_scan_id desc nulls last,
                d.received_at desc,
                d.source_file desc
        ) as arrival_rank,
        row_number() over (
            partition by d.dataset, d.agency, d.period
            order by d.received_at desc, d.source_file desc
        ) as received_rank
    from {{ ref('stg_deliveries__deliveries') }} as d
    left join arrivals as a
        on d.dataset = a.dataset and d.delivery_sha256 = a.delivery_sha256
    left join in_source as k
        on d.dataset = k.dataset and d.agency = k.agency and d.period = k.period
    left join scanned as sc on d.dataset = sc.dataset
)

select
    * exclude (arrival_rank, received_rank, period_in_source, dataset_scanned),
    case
        when not dataset_scanned then received_rank = 1
        else period_in_source and arrival_rank = 1
    end as is_current
from ranked
