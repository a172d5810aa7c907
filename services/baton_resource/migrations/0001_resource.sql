-- The resource manager's allocator: one row holding its whole state (allocations, queue,
-- leases, remembered answers) and which agent ids each allocation holds. Every operation
-- locks the row, so replicas never hand out the same capacity twice.
create table resource_state (
    id int primary key default 1 check (id = 1),
    state jsonb not null,
    agent_slots jsonb not null default '{}',
    updated_at timestamptz not null default now()
);
