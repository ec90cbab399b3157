-- data_processing: which day was exported where (raw_events and daily_aggregates are in 0002_events).
CREATE TABLE IF NOT EXISTS daily_exports (
    day         date PRIMARY KEY,
    s3_key      text NOT NULL,
    row_count   integer NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT now()
);
