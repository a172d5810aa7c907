-- A due recovery action is claimed by the replica that runs it, for a lease: one replica
-- runs it, and another takes it over only once the lease has run out.
alter table recovery_actions
    add column claimed_by text,
    add column claimed_until timestamptz;
