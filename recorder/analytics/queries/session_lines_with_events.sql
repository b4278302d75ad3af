-- session_lines.sql, but keeping each event whole as `event_json` (for the `events` view): the
-- event is read as JSON and the same projection is taken from it. Several times slower than
-- session_lines.sql, which is why only `rt sql` queries that use `events` pay for it.
CREATE OR REPLACE MACRO session_lines(files, max_object_size) AS TABLE
SELECT
    * EXCLUDE (event),
    file_index,
    json_transform(
        event,
        '{"type": "VARCHAR", "response_id": "VARCHAR", "delta": "VARCHAR", "audio": "VARCHAR", "audio_end_ms": "JSON", "response": "JSON", "session": "JSON", "error": "JSON", "rate_limits": "JSON"}'
    ) AS event,
    event AS event_json
FROM read_ndjson(
    files,
    columns = {
        'kind': 'VARCHAR',
        'id': 'VARCHAR',
        'started_at': 'VARCHAR',
        'request': 'STRUCT(path VARCHAR)',
        'seq': 'BIGINT',
        't': 'DOUBLE',
        'from': 'VARCHAR',
        'message': 'VARCHAR',
        'text': 'VARCHAR',
        'binary': 'VARCHAR',
        'event': 'JSON'
    },
    ignore_errors = true,
    maximum_object_size = max_object_size
);
