"""The statements of the watchdog's rows (:mod:`~baton_recovery.failures.watchlist`).

A statement that records a moment takes it as ``$1`` (:data:`NOW`: the tests' clock), the
database's clock when null: replicas on several hosts share it. Statements that lock several
agent rows lock them in id order.
"""

from __future__ import annotations

__all__ = [
    "AGENTS",
    "AGENTS_DUE",
    "FORGET_AGENTS",
    "FORGET_WATCHES",
    "NOW",
    "PROGRESS",
    "TASKS_DUE",
    "UNWATCH",
    "WATCH",
]

NOW = "coalesce($1::timestamptz, now())"

# Signs of life ($4: the agents alive) and agents given a task (tracked unless known), rows
# locked in id order; returns the breakers of the agents alive.
AGENTS = f"""
insert into recovery_agents (agent_id, partition, last_seen)
select agent_id, partition, {NOW} from unnest($2::text[], $3::int[]) as t(agent_id, partition)
order by agent_id
on conflict (agent_id) do update
set last_seen = greatest(recovery_agents.last_seen, excluded.last_seen),
    timed_out_at = null, partition = excluded.partition
where excluded.agent_id = any($4::text[])
returning agent_id, breaker
"""

# Progress on watched tasks: a sign of life of the agents holding them (not of the senders,
# recorded by the caller).
PROGRESS = f"""
update recovery_agents a set last_seen = greatest(a.last_seen, {NOW}), timed_out_at = null
from recovery_watches w
join unnest($2::text[], $3::text[], $4::text[]) as p(workflow_id, task_id, besides)
  on w.workflow_id = p.workflow_id and w.task_id = p.task_id
where a.agent_id = w.agent_id and a.agent_id is distinct from p.besides
"""

WATCH = f"""
insert into recovery_watches
    (workflow_id, task_id, partition, agent_id, assignment_id, since, deadline, trace_context)
select w, t, p, a, s, {NOW}, d, c::jsonb
from unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[],
            $8::text[]) as x(w, t, p, a, s, d, c)
on conflict (workflow_id, task_id) do update
set partition = excluded.partition, agent_id = excluded.agent_id,
    assignment_id = excluded.assignment_id, since = excluded.since,
    deadline = excluded.deadline, timed_out_at = null, trace_context = excluded.trace_context
where recovery_watches.assignment_id <> excluded.assignment_id
"""

# A report ends its task's watch only if the reporting agent (null: anyone) holds it.
UNWATCH = """
delete from recovery_watches w
using unnest($1::text[], $2::text[], $3::text[]) as u(workflow_id, task_id, agent_id)
where w.workflow_id = u.workflow_id and w.task_id = u.task_id
  and (u.agent_id is null or w.agent_id = u.agent_id)
"""

AGENTS_DUE = f"""
with due as (
    select agent_id from recovery_agents
    where partition = any($2::int[]) and timed_out_at is null
      and last_seen <= {NOW} - make_interval(secs => $3)
    order by agent_id limit $4
    for update skip locked
)
update recovery_agents a set timed_out_at = {NOW}
from due where a.agent_id = due.agent_id
returning a.agent_id, a.last_seen, a.timed_out_at, a.breaker
"""

# Watches of the partitions given whose deadline passed or whose agent is out, and those of
# the agents just timed out (wherever they are), each once.
TASKS_DUE = f"""
with due as (
    select w.workflow_id, w.task_id from recovery_watches w
    where w.timed_out_at is null and (
        w.agent_id = any($3::text[])
        or (w.partition = any($2::int[]) and (
            w.deadline <= {NOW}
            or exists (
                select 1 from recovery_agents a
                where a.agent_id = w.agent_id and a.timed_out_at is not null
            )
        ))
    )
    order by w.workflow_id, w.task_id limit $4
    for update of w skip locked
)
update recovery_watches w set timed_out_at = {NOW}
from due where w.workflow_id = due.workflow_id and w.task_id = due.task_id
returning w.workflow_id, w.task_id, w.agent_id, w.assignment_id, w.since, w.deadline,
          w.timed_out_at, w.trace_context
"""

FORGET_AGENTS = f"""
delete from recovery_agents where agent_id in (
    select a.agent_id from recovery_agents a
    where a.partition = any($2::int[]) and a.timed_out_at <= {NOW} - make_interval(secs => $3)
      and not exists (
          select 1 from recovery_watches w
          where w.agent_id = a.agent_id and w.timed_out_at is null
      )
    order by a.agent_id limit $4
    for update skip locked
)
"""

FORGET_WATCHES = f"""
delete from recovery_watches where (workflow_id, task_id) in (
    select workflow_id, task_id from recovery_watches
    where partition = any($2::int[]) and timed_out_at <= {NOW} - make_interval(secs => $3)
    limit $4
    for update skip locked
)
"""
