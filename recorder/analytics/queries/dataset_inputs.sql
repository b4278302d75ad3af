-- The session files of an `rt export parquet` dataset ($sessions: the files of its `sessions`
-- table) as inputs numbered from $first_ordinal, in file order (as a directory of JSONL is).
INSERT INTO inputs
SELECT $first_ordinal + row_number() OVER (ORDER BY file) - 1, file
FROM (SELECT DISTINCT file FROM read_parquet($sessions, hive_partitioning = false));
