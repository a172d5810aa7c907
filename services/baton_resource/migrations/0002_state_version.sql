-- A version per saved state, so a replica can tell whether the allocator it holds in
-- memory is still the stored one (and skip re-reading the whole state on every operation).
alter table resource_state add column version bigint not null default 0;
