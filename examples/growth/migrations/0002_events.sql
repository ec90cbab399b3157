-- Raw product events written by the app, and their daily aggregates. One worker writes the aggregates and
-- another reads them: the tables live here, in no single worker's migration, so either works without the other.
CREATE TABLE IF NOT EXISTS raw_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL DEFAULT 1,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_events_occurred_idx ON raw_events (occurred_at);

CREATE TABLE IF NOT EXISTS daily_aggregates (
    day         date NOT NULL,
    user_id     text NOT NULL,
    metric      text NOT NULL,
    event_count bigint NOT NULL,
    value_sum   double precision NOT NULL,
    PRIMARY KEY (day, user_id, metric)
);
