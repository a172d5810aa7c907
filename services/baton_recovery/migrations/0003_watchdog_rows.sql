-- The watchdog's state as rows instead of one row every replica overwrote: one per agent
-- (last sign of life, outage, circuit breaker) and one per watched task. Each row names the
-- events-topic partition of its key (the agent id, the workflow id); the recovery replica
-- holding that partition judges its timeouts.
create table recovery_agents (
    agent_id text primary key,
    -- Partition of the agent id (where its heartbeats go); null for rows moved from the
    -- old single row until a replica places them.
    partition int,
    last_seen timestamptz not null,
    -- When its current outage was reported; null while it is alive.
    timed_out_at timestamptz,
    -- Its circuit breaker (baton_recovery.breaker.Breaker); null while it has none.
    breaker jsonb
);
-- Candidates for a timeout, and for being forgotten after a long outage.
create index recovery_agents_alive on recovery_agents (partition, last_seen)
    where timed_out_at is null;
create index recovery_agents_out on recovery_agents (partition, timed_out_at)
    where timed_out_at is not null;
create index recovery_agents_breakers on recovery_agents (agent_id) where breaker is not null;

create table recovery_watches (
    workflow_id text not null,
    task_id text not null,
    partition int,
    agent_id text,
    -- The assignment watched (its event id): a redelivered one does not restart the watch.
    assignment_id text not null,
    since timestamptz not null,
    deadline timestamptz,
    timed_out_at timestamptz,
    trace_context jsonb not null default '{}',
    primary key (workflow_id, task_id)
);
create index recovery_watches_open on recovery_watches (partition) where timed_out_at is null;
create index recovery_watches_agent on recovery_watches (agent_id) where timed_out_at is null;
create index recovery_watches_out on recovery_watches (partition, timed_out_at)
    where timed_out_at is not null;

-- What the old row held moves over; the partitions are placed by the first check.
insert into recovery_agents (agent_id, last_seen, timed_out_at, breaker)
select a.key, (a.value ->> 'last_seen')::timestamptz, (a.value ->> 'timed_out_at')::timestamptz,
       s.breakers -> 'breakers' -> a.key
from recovery_state s, jsonb_each(s.liveness -> 'agents') a;

insert into recovery_agents (agent_id, last_seen, breaker)
select b.key, s.updated_at, b.value
from recovery_state s, jsonb_each(s.breakers -> 'breakers') b
on conflict (agent_id) do nothing;

insert into recovery_watches
    (workflow_id, task_id, agent_id, assignment_id, since, deadline, timed_out_at, trace_context)
select t.value ->> 'workflow_id', t.value ->> 'task_id', t.value ->> 'agent_id',
       'moved-' || (t.value ->> 'since'), (t.value ->> 'since')::timestamptz,
       (t.value ->> 'deadline')::timestamptz, (t.value ->> 'timed_out_at')::timestamptz,
       coalesce(t.value -> 'trace_context', '{}'::jsonb)
from recovery_state s, jsonb_each(s.liveness -> 'tasks') t;

drop table recovery_state;
