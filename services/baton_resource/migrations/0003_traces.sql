-- Each workflow's W3C trace context while it holds or waits for resources, so that events
-- published for it outside its own requests (a queued request granted by another workflow's
-- release, a lease expiry) stay in its trace.
alter table resource_state add column traces jsonb not null default '{}';
