-- Plain PostgreSQL has no hypertables: iot_measurements from 001 serves as it is.
SELECT 1;
