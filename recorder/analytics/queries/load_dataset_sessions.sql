-- One `session` record per session file of a dataset ($sessions), for its inputs (numbered
-- from $first_ordinal). Its `t` is the file's last time: all `session_files` reads of the
-- open and close lines.
INSERT INTO records (ordinal, kind, session_id, started_at, request_path, t)
SELECT i.ordinal, 'session', s.session, iso_utc(s.started_at), s.request_path, s.duration_s
FROM read_parquet($sessions, hive_partitioning = false) AS s
JOIN inputs AS i ON i.file = s.file AND i.ordinal >= $first_ordinal;
