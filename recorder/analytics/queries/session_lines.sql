-- The reader behind `load_records`: every line of the files with an explicit schema (nothing
-- is inferred). `event` is read as a projection holding the few fields the metrics use; fields
-- of unexpected types are converted rather than failing the line. `event_json` is NULL: this
-- reader never materialises the whole event (session_lines_with_events.sql does).
CREATE OR REPLACE MACRO session_lines(files, max_object_size) AS TABLE
SELECT *, file_index, NULL::JSON AS event_json
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
        'event': 'STRUCT(type VARCHAR, response_id VARCHAR, delta VARCHAR, audio VARCHAR, audio_end_ms JSON, response JSON, session JSON, error JSON, rate_limits JSON)'
    },
    ignore_errors = true,
    maximum_object_size = max_object_size
);
