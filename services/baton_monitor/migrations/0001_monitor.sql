-- The performance monitor's whole-life figures of each workflow (event counts, latency,
-- task and phase durations, error rates), so that a restarted monitor keeps them: the
-- events behind them are not read again. One row per (consumer group, workflow): several
-- deployments (topic prefixes) may share the database. Rows not updated for the retention
-- period (BATON_MONITOR_WORKFLOW_RETENTION) are deleted.
create table monitor_workflows (
    owner text not null,
    workflow_id text not null,
    stats jsonb not null,
    updated_at timestamptz not null default now(),
    primary key (owner, workflow_id)
);
create index monitor_workflows_updated on monitor_workflows (owner, updated_at);
