-- The AI spend guard (app/spend_guard.py): a ledger per calendar month (UTC) that every model call reserves its
-- worst case against before it is made, and settles to its real cost right after the model answers.

-- One row per month: its row lock is where concurrent calls queue, for the length of a reservation.
CREATE TABLE IF NOT EXISTS spend_ledger (
    month         date PRIMARY KEY,                -- first day of the month
    spent_usd     numeric(18, 8) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),     -- settled calls
    reserved_usd  numeric(18, 8) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),  -- calls in flight, worst case
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every model call a job makes, by its place in the job (`seq`): reserved, then answered (its answer kept, so the
-- job's retry reuses it instead of paying again) or released (the call failed: nothing billed) or expired (its
-- runner died before settling: counted at its worst case, as the call may have been billed).
CREATE TABLE IF NOT EXISTS model_calls (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id         text NOT NULL,
    seq                integer NOT NULL,           -- 0 for the job's first model call, 1 for its second...
    prompt_sha256      text NOT NULL,              -- an answer is reused only for the same prompt
    worker             text NOT NULL,
    model              text NOT NULL,
    month              date NOT NULL,              -- the ledger month it reserved against
    state              text NOT NULL CHECK (state IN ('reserved', 'answered', 'released', 'expired')),
    reserved_usd       numeric(18, 8) NOT NULL,
    usd                numeric(18, 8),             -- what it cost (answered), or its worst case (expired)
    answer             text,
    prompt_tokens      integer,
    completion_tokens  integer,
    reserved_at        timestamptz NOT NULL DEFAULT now(),
    settled_at         timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS model_calls_answered_idx ON model_calls (message_id, seq) WHERE state = 'answered';
CREATE INDEX IF NOT EXISTS model_calls_reserved_idx ON model_calls (reserved_at) WHERE state = 'reserved';
CREATE INDEX IF NOT EXISTS model_calls_month_idx ON model_calls (month, worker, model);

-- One alert per threshold and month: the row is the "sent once" (its winner logs and notifies).
CREATE TABLE IF NOT EXISTS spend_alerts (
    month              date NOT NULL,
    threshold_pct      integer NOT NULL,
    spent_usd          numeric(18, 8) NOT NULL,
    cap_usd            numeric(18, 8) NOT NULL,
    raised_at          timestamptz NOT NULL DEFAULT now(),
    notify_message_id  text,                       -- the QStash message to the alert webhook, once published
    PRIMARY KEY (month, threshold_pct)
);

-- Jobs the guard refused (the budget could not cover their next call), with what is needed to run them again
-- once the budget allows: `python -m app.deferred --replay` publishes each once.
CREATE TABLE IF NOT EXISTS deferred_jobs (
    message_id         text PRIMARY KEY,
    worker             text NOT NULL,
    url                text NOT NULL,              -- the worker route it was delivered to
    body               bytea NOT NULL,
    month              date NOT NULL,
    deferred_at        timestamptz NOT NULL DEFAULT now(),
    replayed_at        timestamptz,
    replay_message_id  text
);

-- A job the guard refused ends in a state of its own: not failed (nothing was wrong with it), not retried.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('received', 'running', 'done', 'failed', 'budget_exhausted'));

-- The cost of each call, as the guard settled it, beside its tokens.
ALTER TABLE ai_usage ADD COLUMN IF NOT EXISTS usd numeric(18, 8);
