-- A version per singleton, one more on every write: the service keeps the values it last
-- wrote in memory and reads a value again only when another writer (a second replica)
-- changed it since (the history grows to thousands of samples; reading and validating it
-- on every completed phase was a third of the service's CPU).
alter table status_singletons add column version bigint not null default 0;
