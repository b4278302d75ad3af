-- Counts and the total cost for the summary: `cost_usd` sums the sessions' costs (responses,
-- input transcription, translated audio, GPT-Live time and delegations), NULL only when no
-- session's cost is known; `transcription_cost_usd` is the input transcription's share of it
-- (CONTRACT §4.2): 0 when no session transcribed, NULL when sessions did but no transcription
-- model has a price.
SELECT
    (SELECT count(*) FROM responses) AS responses,
    (SELECT count(*) FROM sessions) AS sessions,
    (SELECT count(*) FROM errors) AS errors,
    (SELECT CASE WHEN count(*) = 0 THEN 0.0 ELSE round(sum(cost_usd), 8) END FROM sessions) AS cost_usd,
    (
        SELECT CASE
            WHEN count(transcription_cost_usd) = 0 AND count(transcription_model) > 0 THEN NULL
            ELSE round(coalesce(sum(transcription_cost_usd), 0.0), 8)
        END
        FROM sessions
    ) AS transcription_cost_usd;
