-- The `sessions` array: one row per file, with totals over its responses. A session without
-- responses costs 0; one whose responses all have an unknown cost has a NULL cost.
SELECT
    s.session,
    s.file,
    iso_utc(s.started_at) AS started_at,
    s.duration_s,
    count(r.response_id) AS responses,
    coalesce(sum(r.input_tokens), 0) AS input_tokens,
    coalesce(sum(r.output_tokens), 0) AS output_tokens,
    CASE WHEN count(r.response_id) = 0 THEN 0.0 ELSE round(sum(r.cost_usd), 8) END AS cost_usd,
    s.model
FROM sessions AS s
LEFT JOIN responses AS r USING (ordinal)
GROUP BY s.ordinal, s.session, s.file, s.started_at, s.duration_s, s.model
ORDER BY s.ordinal;
