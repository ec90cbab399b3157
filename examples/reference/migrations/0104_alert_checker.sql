-- alert_checker: users' rules and the alerts raised, at most one per rule and window.
CREATE TABLE IF NOT EXISTS alert_rules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text NOT NULL,
    metric      text NOT NULL,
    comparator  text NOT NULL CHECK (comparator IN ('>', '>=', '<', '<=')),
    threshold   double precision NOT NULL,
    webhook_url text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS alerts (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id            bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    window_start       timestamptz NOT NULL,
    observed_value     double precision NOT NULL,
    explanation        text NOT NULL,
    notify_message_id  text NOT NULL,     -- QStash message id of the webhook notification
    message_id         text NOT NULL,     -- the cron delivery that raised it
    raised_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, window_start)
);
