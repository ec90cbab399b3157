-- video_processing: one row per uploaded video, keyed by its S3 key.
CREATE TABLE IF NOT EXISTS videos (
    video_key      text PRIMARY KEY,
    thumbnail_key  text NOT NULL,
    user_id        text,
    status         text NOT NULL CHECK (status IN ('tagged', 'rejected')),
    reject_reason  text,
    size_bytes     bigint,
    content_type   text,
    tags           text[] NOT NULL DEFAULT '{}',
    description    text,
    model          text,
    message_id     text NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now()
);
