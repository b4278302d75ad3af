-- Counts and the total cost for the summary (cost NULL only when no response has a known cost).
SELECT
    (SELECT count(*) FROM responses) AS responses,
    (SELECT count(*) FROM sessions) AS sessions,
    (SELECT count(*) FROM errors) AS errors,
    (SELECT CASE WHEN count(*) = 0 THEN 0.0 ELSE round(sum(cost_usd), 8) END FROM responses) AS cost_usd;
