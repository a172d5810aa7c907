-- The status service's read model: one row per workflow (its projected view), the
-- system-wide view, and the duration history completion estimates learn from.
create table status_workflows (
    workflow_id text primary key,
    status text not null,
    priority text not null,
    workflow_type text not null,
    view jsonb not null,
    updated_at timestamptz not null default now()
);
create index status_workflows_status on status_workflows (status);

create table status_singletons (
    name text primary key,
    value jsonb not null,
    updated_at timestamptz not null default now()
);
