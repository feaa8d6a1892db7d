-- Readings, identified by (sensor, time): a redelivered reading is absorbed, never counted twice.
-- sensor_id has no foreign key on purpose: a per-row FK check more than halves insert
-- throughput, and the collector only writes ids it resolved from the registry (sensors are
-- deactivated, never deleted).
--
-- With the TimescaleDB extension available (and not switched off with
-- `ALTER DATABASE ... SET geohazard.timescaledb = 'off'`), readings are a hypertable with
-- compression and retention; its hourly rollup, a continuous aggregate, is created by the store
-- at start-up because continuous aggregates cannot be created inside a migration's transaction.
-- On plain PostgreSQL, readings are range-partitioned by month (the store creates partitions
-- ahead of the data and drops expired ones) and `readings_hourly` is a table the store keeps
-- up to date in the same transaction as every insert.

CREATE TABLE storage_settings (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    mode       text NOT NULL CHECK (mode IN ('timescaledb', 'partitioned')),
    -- How long raw readings are kept; hourly rollups are kept for good.
    retention  interval NOT NULL DEFAULT interval '5 years'
);

DO $$
BEGIN
    -- TimescaleDB needs both the package and shared_preload_libraries = 'timescaledb'.
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'
       AND coalesce(current_setting('geohazard.timescaledb', true), 'auto') <> 'off' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        CREATE TABLE readings (
            sensor_id integer NOT NULL,
            ts        timestamptz NOT NULL,
            value     double precision NOT NULL,
            quality   smallint NOT NULL DEFAULT 0,
            PRIMARY KEY (sensor_id, ts)
        );
        PERFORM create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day');
        ALTER TABLE readings SET (timescaledb.compress,
                                  timescaledb.compress_segmentby = 'sensor_id',
                                  timescaledb.compress_orderby = 'ts');
        PERFORM add_compression_policy('readings', interval '7 days');
        PERFORM add_retention_policy('readings', interval '5 years');
        INSERT INTO storage_settings (mode) VALUES ('timescaledb');
    ELSE
        CREATE TABLE readings (
            sensor_id integer NOT NULL,
            ts        timestamptz NOT NULL,
            value     double precision NOT NULL,
            quality   smallint NOT NULL DEFAULT 0,
            PRIMARY KEY (sensor_id, ts)
        ) PARTITION BY RANGE (ts);
        CREATE TABLE readings_hourly (
            sensor_id integer NOT NULL,
            bucket    timestamptz NOT NULL,
            n         bigint NOT NULL,
            vmin      double precision NOT NULL,
            vmax      double precision NOT NULL,
            vsum      double precision NOT NULL,
            PRIMARY KEY (sensor_id, bucket)
        );
        INSERT INTO storage_settings (mode) VALUES ('partitioned');
    END IF;
END
$$;
