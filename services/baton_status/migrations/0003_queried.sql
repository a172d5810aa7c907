-- The read model is queried, not held: every replica answers lists, counts and pages from
-- these columns (filters, sorting, cursor pagination, aggregates) and loads a view only
-- for a detail or a workflow in flight.
--
-- version: from one sequence, unique across rows and never reused (a pruned workflow id
-- made again gets a new one), so a replica's cached copy of a view is current exactly when
-- its version is the row's. summary: the list line as written; exact for an ended
-- workflow, whose line no longer depends on the clock (an open one is rendered from its
-- view when read). Rows written before this migration get their summary and progress
-- from the service's maintenance loop, in small batches; until then they are rendered
-- from their view.
create sequence status_versions;

alter table status_workflows
    add column version bigint not null default nextval('status_versions'),
    add column name text not null default '',
    add column priority_rank smallint not null default 2,
    add column progress real not null default 0,
    add column phases_done int not null default 0,
    add column phases_total int not null default 0,
    add column created_at timestamptz,
    add column started_at timestamptz,
    add column finished_at timestamptz,
    add column duration_s double precision,
    add column summary jsonb;

update status_workflows set
    name = coalesce(view->>'name', ''),
    priority_rank = case priority
        when 'critical' then 0 when 'high' then 1 when 'medium' then 2 when 'low' then 3
        else 9 end,
    phases_total = coalesce(jsonb_array_length(view->'phases'), 0),
    phases_done = (
        select count(*) from jsonb_array_elements(view->'phases') p
        where p->>'status' in ('completed', 'skipped')
    ),
    created_at = coalesce((view->>'created_at')::timestamptz, updated_at),
    started_at = (view->>'started_at')::timestamptz,
    finished_at = (view->>'finished_at')::timestamptz,
    updated_at = coalesce((view->>'updated_at')::timestamptz, updated_at);

update status_workflows set
    duration_s = extract(epoch from finished_at - coalesce(started_at, created_at))
where finished_at is not null;

alter table status_workflows alter column created_at set not null;
alter table status_workflows alter column created_at set default now();

-- Keyset pagination: each sort key with the id as tie-breaker, read in either direction.
drop index status_workflows_status;
create index status_workflows_created on status_workflows (created_at, workflow_id);
create index status_workflows_updated on status_workflows (updated_at, workflow_id);
create index status_workflows_by_status on status_workflows (status, created_at, workflow_id);
create index status_workflows_by_priority
    on status_workflows (priority_rank, created_at, workflow_id);
create index status_workflows_by_type on status_workflows (workflow_type, created_at, workflow_id);
-- Pruning finds ended workflows by age.
create index status_workflows_finished on status_workflows (finished_at)
    where finished_at is not null;
-- Rows still to be summarised by the maintenance loop.
create index status_workflows_unsummarised on status_workflows (workflow_id)
    where summary is null;

-- How many workflows ended with each status, kept by triggers so the overview counts them
-- without scanning their rows (the open ones, the work in flight, are counted live). A
-- workflow counts in one of 16 shards (by its id), so that workflows ending at once on two
-- replicas rarely wait for one another. A delete of many rows (pruning) changes its
-- shards in one order (status, shard), so two never wait for each other in a cycle.
create table status_ended (
    status text not null,
    shard smallint not null,
    n bigint not null default 0,
    primary key (status, shard)
);

create function status_ended_add(st text, id text, delta bigint) returns void
language sql as $$
    insert into status_ended as e (status, shard, n)
    values (st, abs(hashtext(id)) % 16, delta)
    on conflict (status, shard) do update set n = e.n + excluded.n
$$;

create function status_ended_row() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' and old.status in ('COMPLETED', 'FAILED', 'CANCELLED') then
        perform status_ended_add(old.status, old.workflow_id, -1);
    end if;
    if new.status in ('COMPLETED', 'FAILED', 'CANCELLED') then
        perform status_ended_add(new.status, new.workflow_id, 1);
    end if;
    return null;
end $$;

create function status_ended_deleted() returns trigger language plpgsql as $$
declare
    gone record;
begin
    for gone in
        select status, abs(hashtext(workflow_id)) % 16 as shard, count(*) as n from doomed
        where status in ('COMPLETED', 'FAILED', 'CANCELLED')
        group by 1, 2 order by 1, 2
    loop
        update status_ended set n = n - gone.n
        where status = gone.status and shard = gone.shard;
    end loop;
    return null;
end $$;

create function status_ended_truncated() returns trigger language plpgsql as $$
begin
    delete from status_ended;
    return null;
end $$;

create trigger status_ended_inserted after insert on status_workflows for each row
    when (new.status in ('COMPLETED', 'FAILED', 'CANCELLED'))
    execute function status_ended_row();
create trigger status_ended_updated after update of status on status_workflows for each row
    when (old.status is distinct from new.status)
    execute function status_ended_row();
create trigger status_ended_deleted after delete on status_workflows
    referencing old table as doomed for each statement
    execute function status_ended_deleted();
create trigger status_ended_truncated after truncate on status_workflows for each statement
    execute function status_ended_truncated();

insert into status_ended (status, shard, n)
select status, abs(hashtext(workflow_id)) % 16, count(*) from status_workflows
where status in ('COMPLETED', 'FAILED', 'CANCELLED')
group by 1, 2;

-- The duration history completion estimates learn from: one row per workflow type (the
-- newest samples per phase and per whole run, capped), instead of one singleton holding
-- every type. A version from the same sequence lets a replica keep a type's row in memory
-- and read it again only when another replica changed it.
create table status_history (
    workflow_type text primary key,
    version bigint not null default nextval('status_versions'),
    value jsonb not null,
    updated_at timestamptz not null default now()
);

insert into status_history (workflow_type, value)
select kind, jsonb_build_object(
    'phases', jsonb_build_object(kind, coalesce(s.value->'phases'->kind, '{}'::jsonb)),
    'workflows', jsonb_build_object(kind, coalesce(s.value->'workflows'->kind, '[]'::jsonb))
)
from status_singletons s,
    lateral (
        select jsonb_object_keys(coalesce(s.value->'phases', '{}'::jsonb))
        union
        select jsonb_object_keys(coalesce(s.value->'workflows', '{}'::jsonb))
    ) as k(kind)
where s.name = 'history';

delete from status_singletons where name = 'history';

create index status_history_updated on status_history (updated_at);
