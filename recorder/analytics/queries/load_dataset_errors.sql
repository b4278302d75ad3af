-- The proxy's own `error` records of a dataset ($errors: its `errors` table), for its inputs
-- (numbered from $first_ordinal); server errors and failed responses come from the events.
INSERT INTO records (ordinal, kind, t, message)
SELECT i.ordinal, 'error', e.t, e.message
FROM read_parquet($errors, hive_partitioning = false) AS e
JOIN inputs AS i ON i.file = e.file AND i.ordinal >= $first_ordinal
WHERE e.source = 'proxy';
