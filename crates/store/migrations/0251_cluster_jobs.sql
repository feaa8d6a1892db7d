-- Jobs that must happen once per cluster whatever the number of replicas (the snapshot asked
-- for on an orange or red warning, ...): the replica that inserts the row does the job, the
-- others see it taken.
CREATE TABLE cluster_job_claims (
    job        text NOT NULL,
    key        text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, key)
);
CREATE INDEX cluster_job_claims_claimed_idx ON cluster_job_claims (claimed_at);
