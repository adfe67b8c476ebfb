-- Plain PostgreSQL has no background jobs for compression or retention; old rows are
-- removed by the operator (DELETE FROM iot_measurements WHERE "timestamp" < ...).
SELECT 1;
