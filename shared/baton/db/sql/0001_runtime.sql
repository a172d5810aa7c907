-- Tables every service uses through the shared runtime.

-- Events to publish, written in the same transaction as the state change that caused
-- them (transactional outbox); the relay publishes and deletes them.
create table baton_outbox (
    id bigserial primary key,
    owner text not null,
    topic text not null,
    key bytea,
    value bytea not null,
    headers jsonb not null default '[]',
    created_at timestamptz not null default now()
);
create index baton_outbox_owner_id on baton_outbox (owner, id);

-- Events a consumer already applied: its idempotency ledger.
create table baton_processed (
    consumer text not null,
    event_id text not null,
    processed_at timestamptz not null default now(),
    primary key (consumer, event_id)
);

-- Replies already given, so a repeated request is answered, not applied again.
create table baton_replies (
    owner text not null,
    request_id text not null,
    status text not null,
    reply jsonb not null,
    created_at timestamptz not null default now(),
    primary key (owner, request_id)
);
