-- In TimescaleDB mode too, `readings_hourly` is the exact rollup table the partitioned mode
-- keeps, updated in the same transaction as every insert (crates/store/src/readings.rs), on
-- top of the `readings` hypertable. It replaces the continuous aggregate the store used to
-- create at start-up, which lagged by its refresh interval plus an hour and never rolled up
-- readings that arrived more than its 3-day refresh window late (a gateway's store-and-forward
-- after a long outage, an import of history).
--
-- A database that had the continuous aggregate gets the table filled from the raw readings,
-- plus the aggregate's rows for hours whose raw readings are already gone.
DO $$
BEGIN
    IF (SELECT mode FROM storage_settings) <> 'timescaledb' THEN
        RETURN;
    END IF;
    CREATE TABLE readings_hourly_exact (
        sensor_id integer NOT NULL,
        bucket    timestamptz NOT NULL,
        n         bigint NOT NULL,
        vmin      double precision NOT NULL,
        vmax      double precision NOT NULL,
        vsum      double precision NOT NULL,
        CONSTRAINT readings_hourly_exact_pkey PRIMARY KEY (sensor_id, bucket)
    );
    INSERT INTO readings_hourly_exact
    SELECT sensor_id, time_bucket(interval '1 hour', ts), count(*), min(value), max(value), sum(value)
    FROM readings GROUP BY 1, 2;
    IF to_regclass('readings_hourly') IS NOT NULL THEN
        INSERT INTO readings_hourly_exact
        SELECT sensor_id, bucket, n, vmin, vmax, vsum FROM readings_hourly
        ON CONFLICT DO NOTHING;
        DROP MATERIALIZED VIEW readings_hourly;
    END IF;
    ALTER TABLE readings_hourly_exact RENAME TO readings_hourly;
    ALTER TABLE readings_hourly RENAME CONSTRAINT readings_hourly_exact_pkey TO readings_hourly_pkey;
END
$$;
