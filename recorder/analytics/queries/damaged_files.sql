-- Files holding lines that cannot be used, with how many such rows DuckDB returned.
-- (ignore_errors turns an unreadable line into a row of NULLs; the exact count and the first
-- bad line number come from a second pass over just these files.)
SELECT i.file, count(*) AS bad_rows
FROM records AS r
JOIN inputs AS i USING (ordinal)
WHERE r.kind IS NULL
   OR (r.kind = 'frame' AND NOT coalesce(is_frame(r.kind, r.t, r.sender, r.payloads), false))
   OR (r.kind IN ('open', 'close', 'error') AND NOT valid_t(r.t))
GROUP BY i.ordinal, i.file
ORDER BY i.ordinal;
