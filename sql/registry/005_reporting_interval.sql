-- The reporting interval a controller is expected to keep, in seconds. NULL = the fleet
-- stage's default (FLEET_EXPECTED_INTERVAL_S). A controller counts as offline after
-- FLEET_OFFLINE_AFTER_INTERVALS times this without a message. An UPDATE raises NOTIFY
-- registry_changed through the trigger of 003, so the fleet stage sees it without restart.
ALTER TABLE "Device"
  ADD COLUMN IF NOT EXISTS "ExpectedReportingIntervalS" integer
    CHECK ("ExpectedReportingIntervalS" IS NULL OR "ExpectedReportingIntervalS" BETWEEN 1 AND 604800);
