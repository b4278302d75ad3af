-- The models the sessions use, with how many sessions use each (NULL: no model known).
SELECT model, count(*) AS sessions
FROM session_files
GROUP BY model
ORDER BY model NULLS LAST;
