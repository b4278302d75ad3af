-- Counts and the total cost for the summary: the sum of the sessions' costs (a GPT-Live
-- session's cost is not in its turns), NULL only when no session has a known cost.
SELECT
    (SELECT count(*) FROM responses) AS responses,
    (SELECT count(*) FROM sessions) AS sessions,
    (SELECT count(*) FROM errors) AS errors,
    (SELECT CASE WHEN count(*) = 0 THEN 0.0 ELSE round(sum(cost_usd), 8) END FROM sessions) AS cost_usd;
