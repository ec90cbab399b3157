-- QStash tokens already used, each bound to the message it came with, until it expires (app/replay.py):
-- the same token under another Upstash-Message-Id is a replay and is refused.
CREATE TABLE IF NOT EXISTS used_signatures (
    jti         text PRIMARY KEY,                -- the token's unique id
    message_id  text NOT NULL,
    expires_at  timestamptz NOT NULL             -- the token's exp plus the clock tolerance
);
CREATE INDEX IF NOT EXISTS used_signatures_expires_at_idx ON used_signatures (expires_at);
