-- workflow-recovery: checkpoints (full or differential, compressed, hashed), error reports,
-- recovery actions waiting for their time, and the watchdog's state (agents' liveness and
-- circuit breakers) as one row.
create table recovery_checkpoints (
    checkpoint_id text primary key,
    workflow_id text not null,
    seq bigserial not null,
    checkpoint_type text not null,
    trigger text not null,
    state_version int not null,
    kind text not null check (kind in ('full', 'delta')),
    base_id text references recovery_checkpoints (checkpoint_id),
    deltas_since_full int not null,
    payload bytea not null,
    payload_hash text not null,
    state_hash text not null,
    full_size int not null,
    stored_size int not null,
    created_at timestamptz not null default now()
);
create index recovery_checkpoints_workflow on recovery_checkpoints (workflow_id, seq);

create table recovery_reports (
    error_id text primary key,
    workflow_id text not null,
    report jsonb not null,
    decision jsonb,
    created_at timestamptz not null default now()
);
create index recovery_reports_workflow on recovery_reports (workflow_id, created_at);

create table recovery_actions (
    action_id text primary key,
    workflow_id text not null,
    due_at timestamptz not null,
    request jsonb not null,
    done_at timestamptz,
    outcome jsonb
);
create index recovery_actions_due on recovery_actions (due_at) where done_at is null;

create table recovery_state (
    id int primary key default 1 check (id = 1),
    liveness jsonb not null,
    breakers jsonb not null,
    updated_at timestamptz not null default now()
);
