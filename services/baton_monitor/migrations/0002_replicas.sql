-- The performance monitor with several replicas (issue 17): what each replica counts is
-- written here, per partition of the events topic, and every replica answers from the sum.
-- Rows are per consumer group (`owner`, `<prefix>.monitor`): deployments may share the
-- database.

-- Per partition: the latest offset counted, when counting began, and the replica that
-- counted last. A batch locks its partition's row, so that a record is counted once even
-- while the partition moves from one replica to another.
create table monitor_partitions (
    owner text not null,
    partition integer not null,
    applied bigint not null default -1,
    since timestamptz,
    observed bigint not null default 0,
    holder text,
    updated_at timestamptz not null default now(),
    primary key (owner, partition)
);

-- What each partition added to each pane (a short tumbling window; every tumbling and
-- hopping window is made of panes). Kept as long as the longest window needs them.
create table monitor_panes (
    owner text not null,
    partition integer not null,
    start_ms bigint not null,
    pane jsonb not null,
    primary key (owner, partition, start_ms)
);
create index monitor_panes_start on monitor_panes (owner, start_ms);

-- Every component heard of (registrations, heartbeats, start-ups, shut-downs). Rows not
-- updated for BATON_MONITOR_COMPONENT_RETENTION are deleted.
create table monitor_components (
    owner text not null,
    component_id text not null,
    record jsonb not null,
    updated_at timestamptz not null default now(),
    primary key (owner, component_id)
);
create index monitor_components_updated on monitor_components (owner, updated_at);

-- Thresholds, component health and saturation as last evaluated: one row, locked by the
-- replica that evaluates (one at a time, each turn at most once per evaluation interval).
create table monitor_evaluation (
    owner text primary key,
    state jsonb not null,
    evaluated_at timestamptz,
    holder text
);

-- Work one replica does for all, now and then (reading consumer lag): who did it last.
create table monitor_turns (
    owner text not null,
    name text not null,
    at timestamptz not null,
    holder text not null,
    primary key (owner, name)
);

-- The faust windows of each partition, as their owner last published them.
create table monitor_stream_figures (
    owner text not null,
    partition integer not null,
    figures jsonb not null,
    holder text not null,
    updated_at timestamptz not null default now(),
    primary key (owner, partition)
);
