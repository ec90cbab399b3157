-- Fan-out of cron work (app/fanout.py): the chunks of each tick, written once by the tick before it publishes
-- them (a retried tick publishes the same chunks), each marked done by its own message's transaction.
CREATE TABLE IF NOT EXISTS fanout_chunks (
    tick_id      text NOT NULL,                  -- Upstash-Message-Id of the cron delivery
    chunk        integer NOT NULL,
    worker       text NOT NULL,
    units        jsonb NOT NULL,                 -- the user ids this chunk works on
    params       jsonb NOT NULL,                 -- what every chunk of the tick shares (its window)
    message_id   text,                           -- the chunk message that did the work
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    PRIMARY KEY (tick_id, chunk)
);
CREATE INDEX IF NOT EXISTS fanout_chunks_worker_created_idx ON fanout_chunks (worker, created_at);
