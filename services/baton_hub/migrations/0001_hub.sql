-- The coordination hub's workflows: one row per workflow, its whole state as JSON.
create table hub_workflows (
    workflow_id text primary key,
    status text not null,
    priority text not null,
    state_version int not null,
    state jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index hub_workflows_active on hub_workflows (status)
    where status in ('CREATED', 'SCHEDULED', 'QUEUED', 'STARTED', 'PAUSED');
