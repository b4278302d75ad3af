-- Per limit name: first, lowest and last `remaining`, the lowest as a percentage of the limit,
-- and the lowest percentage in each of $buckets equal slices of wall-clock time across all
-- sessions (NULL for a slice without updates). Sessions without a start time count from 0.
WITH
points AS (
    SELECT
        l.name,
        l.remaining,
        100.0 * l.remaining / nullif(l."limit", 0) AS percent,
        coalesce(epoch(l."at"), l.t) AS x,
        i.ordinal,
        l.seq AS pos
    FROM rate_limits AS l
    JOIN inputs AS i USING (file)
),
span AS (SELECT min(x) AS lo, max(x) AS hi FROM points),
bucketed AS (
    SELECT
        p.*,
        CAST(coalesce(least(floor((p.x - s.lo) / nullif(s.hi - s.lo, 0) * $buckets), $buckets - 1), 0) AS INTEGER) AS bucket
    FROM points AS p, span AS s
),
slices AS (
    SELECT n.name, b.bucket, min(k.percent) AS percent
    FROM (SELECT DISTINCT name FROM points) AS n
    CROSS JOIN range($buckets) AS b(bucket)
    LEFT JOIN bucketed AS k ON k.name = n.name AND k.bucket = b.bucket
    GROUP BY n.name, b.bucket
)
SELECT
    p.name,
    count(*) AS updates,
    arg_min(p.remaining, (p.x, p.ordinal, p.pos)) AS first,
    min(p.remaining) AS min,
    arg_max(p.remaining, (p.x, p.ordinal, p.pos)) AS last,
    round(min(p.percent), 1) AS min_percent,
    (SELECT list(round(s.percent, 1) ORDER BY s.bucket) FROM slices AS s WHERE s.name = p.name) AS trend
FROM points AS p
GROUP BY p.name
ORDER BY p.name;
