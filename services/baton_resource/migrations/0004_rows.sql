-- The resource manager's state as rows instead of one JSONB document (issue 17): each
-- operation locks the pool rows (a handful, in name order) and reads and writes only the
-- rows it needs, so its cost does not grow with the allocations, queued requests or answers
-- kept. The state of resource_state moves over; the queue's sort keys are computed by the
-- service at start (they depend on BATON_RESOURCE_AGING_PER_MINUTE), the agent rows of the
-- configured names too.

-- One row per pool: what the allocations hold in it, and whether its threshold is breached.
create table resource_pools (
    name text primary key,
    used numeric not null default 0 check (used >= 0),
    breached boolean not null default false
);

-- The allocator's counters and settings: one row.
create table resource_meta (
    id int primary key default 1 check (id = 1),
    version bigint not null default 0,
    next_seq bigint not null default 0,
    allocations bigint not null default 0,
    queued bigint not null default 0,
    saturation jsonb,
    aging double precision
);

-- One row per live allocation; ``record`` is the allocator's Allocation as JSON.
create table resource_allocations (
    seq bigserial unique,
    allocation_id text primary key,
    request_id text not null,
    workflow_id text not null,
    expected_end timestamptz not null,
    lease_deadline timestamptz not null,
    agent_ids text[] not null default '{}',
    trace jsonb not null default '{}',
    record jsonb not null
);
create index resource_allocations_request on resource_allocations (request_id);
create index resource_allocations_workflow on resource_allocations (workflow_id);
create index resource_allocations_lease on resource_allocations (lease_deadline);
create index resource_allocations_end on resource_allocations (expected_end);

-- Who holds each exclusive file.
create table resource_files (
    file text not null,
    allocation_id text not null references resource_allocations on delete cascade,
    primary key (file, allocation_id)
);
create index resource_files_allocation on resource_files (allocation_id);

-- One row per queued request; serving order is rank_key (higher first), then seq.
create table resource_queue (
    request_id text primary key,
    workflow_id text not null,
    priority text not null,
    agents int not null,
    queued_at timestamptz not null,
    rank_key double precision not null,
    seq bigint not null,
    trace jsonb not null default '{}',
    record jsonb not null
);
create index resource_queue_order on resource_queue (rank_key desc, seq);
create index resource_queue_workflow on resource_queue (workflow_id);
create index resource_queue_no_agents on resource_queue (rank_key desc, seq) where agents = 0;

-- The latest answer to each request (a repeated request gets it again); pruned once
-- settled and older than the allocator's remembering window.
create table resource_answers (
    request_id text primary key,
    updated_at timestamptz not null,
    response jsonb not null
);
create index resource_answers_updated on resource_answers (updated_at);

-- The pool's agents by name: which allocation holds each (position: order in
-- BATON_RESOURCE_AGENT_IDS; null once no longer configured).
create table resource_agents (
    agent_id text primary key,
    position int,
    allocation_id text references resource_allocations on delete set null
);
create index resource_agents_free on resource_agents (position) where allocation_id is null;
create index resource_agents_allocation on resource_agents (allocation_id);

-- Moving the old state over.
insert into resource_meta (id, version, next_seq, allocations, queued, saturation)
select 1,
       s.version,
       coalesce((s.state ->> 'next_seq')::bigint, 0),
       jsonb_array_length(coalesce(s.state -> 'allocations', '[]')),
       jsonb_array_length(coalesce(s.state -> 'queue', '[]')),
       nullif(s.state -> 'saturation', 'null'::jsonb)
from resource_state s;
insert into resource_meta (id) values (1) on conflict do nothing;

insert into resource_allocations (
    allocation_id, request_id, workflow_id, expected_end, lease_deadline, agent_ids, trace, record
)
select a ->> 'allocation_id',
       a ->> 'request_id',
       a ->> 'workflow_id',
       (a ->> 'expected_end')::timestamptz,
       (a ->> 'lease_deadline')::timestamptz,
       array(select jsonb_array_elements_text(
           coalesce(s.agent_slots -> (a ->> 'allocation_id'), '[]'))),
       coalesce(s.traces -> (a ->> 'workflow_id'), '{}'),
       a
from resource_state s, jsonb_array_elements(s.state -> 'allocations') with ordinality x(a, n)
order by x.n;

insert into resource_files (file, allocation_id)
select distinct f, a ->> 'allocation_id'
from resource_state s,
     jsonb_array_elements(s.state -> 'allocations') a,
     jsonb_array_elements_text(a -> 'resources' -> 'exclusive_files') f;

insert into resource_queue (
    request_id, workflow_id, priority, agents, queued_at, rank_key, seq, trace, record
)
select q -> 'request' ->> 'request_id',
       q -> 'request' ->> 'workflow_id',
       q -> 'request' ->> 'priority',
       (q -> 'request' -> 'resources' ->> 'agents')::int,
       (q ->> 'queued_at')::timestamptz,
       0,
       (q ->> 'seq')::bigint,
       coalesce(s.traces -> (q -> 'request' ->> 'workflow_id'), '{}'),
       q
from resource_state s, jsonb_array_elements(s.state -> 'queue') q;

insert into resource_answers (request_id, updated_at, response)
select d.key, (d.value ->> 'updated_at')::timestamptz, d.value -> 'response'
from resource_state s, jsonb_each(s.state -> 'decisions') d;

insert into resource_pools (name, used)
select u.name, sum(u.amount)
from (
    select 'agents' as name, (a -> 'resources' ->> 'agents')::numeric as amount
    from resource_state s, jsonb_array_elements(s.state -> 'allocations') a
    union all
    select 'memory_gb', (a -> 'resources' ->> 'memory_gb')::numeric
    from resource_state s, jsonb_array_elements(s.state -> 'allocations') a
    union all
    select 'cpu_cores', (a -> 'resources' ->> 'cpu_cores')::numeric
    from resource_state s, jsonb_array_elements(s.state -> 'allocations') a
    union all
    select 'tool_instances.' || t.key, t.value::numeric
    from resource_state s,
         jsonb_array_elements(s.state -> 'allocations') a,
         jsonb_each_text(a -> 'resources' -> 'tool_instances') t
) u
group by u.name;

insert into resource_pools (name, breached)
select b, true
from resource_state s, jsonb_array_elements_text(s.state -> 'breached') b
on conflict (name) do update set breached = true;

insert into resource_agents (agent_id, allocation_id)
select distinct on (n) n, e.key
from resource_state s,
     jsonb_each(s.agent_slots) e,
     jsonb_array_elements_text(e.value) n
where exists (select 1 from resource_allocations r where r.allocation_id = e.key);

drop table resource_state;
