-- The `sessions` array of `rt stats --format json` (and the model, for the table view).
SELECT
    s.session, s.file, iso_utc(s.started_at) AS started_at, s.duration_s, s.responses,
    s.input_tokens, s.output_tokens, s.cost_usd, s.model
FROM sessions AS s
JOIN inputs AS i USING (file)
ORDER BY i.ordinal;
