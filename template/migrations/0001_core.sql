-- Shared tables: delivery bookkeeping, messages QStash gave up on, and AI spend.

CREATE TABLE IF NOT EXISTS jobs (
    message_id   text PRIMARY KEY,                -- Upstash-Message-Id: one row per distinct message
    worker       text NOT NULL,
    state        text NOT NULL CHECK (state IN ('received', 'running', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,      -- Upstash-Retried of the latest delivery that ran
    runs         integer NOT NULL DEFAULT 0,      -- how many times the effect was started
    retryable    boolean,
    error        text,
    result       jsonb,
    received_at  timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_worker_state_idx ON jobs (worker, state);

-- Messages QStash gave up on (its failure callback), one row per source message.
CREATE TABLE IF NOT EXISTS failed_messages (
    source_message_id text PRIMARY KEY,
    url               text NOT NULL,
    status            integer,
    retried           integer,
    max_retries       integer,
    dlq_id            text,
    schedule_id       text,
    response_body     text,
    source_body       text,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);

-- Every model call, to compare real spend with the plan.
CREATE TABLE IF NOT EXISTS ai_usage (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id        text NOT NULL,
    worker            text NOT NULL,
    model             text NOT NULL,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    called_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ai_usage_model_day_idx ON ai_usage (model, called_at);
