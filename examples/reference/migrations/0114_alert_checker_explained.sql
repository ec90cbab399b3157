-- alert_checker: whether the model explained an alert, so a user's explanations per day stay within the plan's
-- max_model_calls_per_user_per_day (the others are raised and notified with a plain explanation).
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS explained boolean NOT NULL DEFAULT false;
