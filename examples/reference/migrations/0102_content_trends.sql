-- content_trends: content and engagement rows written by the app, and one summary per user per run.
CREATE TABLE IF NOT EXISTS content_items (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    text NOT NULL,
    title      text NOT NULL,
    topic      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS engagements (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    content_id  bigint NOT NULL REFERENCES content_items (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS engagements_occurred_idx ON engagements (occurred_at);

CREATE TABLE IF NOT EXISTS trend_summaries (
    user_id      text NOT NULL,
    message_id   text NOT NULL,           -- the cron delivery that produced it
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    top_topics   jsonb NOT NULL,
    summary      text NOT NULL,
    model        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, message_id)
);
