-- Channels that keep failing, and the weekly summary (issue 15). Times are Unix ms.

-- Deliveries of the channel given up in a row (failed for good, after their retries or at
-- once for a permanent refusal) since its last delivered one or since it was enabled. At
-- `outbox::DISABLE_AFTER_GIVEN_UP` the channel is disabled like one answering 410 Gone, with
-- its reason in `disabled_reason` and an audit entry; enabling it sets this back to 0.
ALTER TABLE notification_channels ADD COLUMN failed_streak INTEGER NOT NULL DEFAULT 0;

-- The weekly summary is a `channel` outbox row like a deployment event's notification, with
-- its idempotency key `sum_<project id>_<ISO week>_<channel id>` as its id (see
-- `notify::summary::key`); the cron finds the channels still owed this week's summary by that
-- key. No table of its own: the outbox row is the record that it was queued and sent.
