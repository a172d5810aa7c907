-- The ended counts (status_ended) are kept by the writer, once per batch of events, not by
-- a trigger per row: a trigger changed a shard as each workflow ended, so two batches
-- (or a batch and the retention pass) ending workflows in different orders locked shards
-- in different orders and could deadlock. The writer adds a batch's changes in one
-- statement, in (status, shard) order, the order the retention pass deletes in.
drop trigger if exists status_ended_inserted on status_workflows;
drop trigger if exists status_ended_updated on status_workflows;
drop function if exists status_ended_row();
