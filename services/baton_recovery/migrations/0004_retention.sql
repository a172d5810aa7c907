-- Retention (baton_recovery.retention). A workflow's checkpoints go together, once its
-- newest is past the window: found and checked per workflow by (workflow_id, created_at).
create index recovery_checkpoints_workflow_time on recovery_checkpoints (workflow_id, created_at);
-- Deleting a checkpoint checks that no delta is based on it: without this index, each
-- deleted row would read the whole table. Full checkpoints have no base.
create index recovery_checkpoints_base on recovery_checkpoints (base_id) where base_id is not null;
-- Reports go together per workflow too: recovery_reports_workflow (workflow_id, created_at)
-- serves them already. Actions done go one by one, by when they were done.
create index recovery_actions_done on recovery_actions (done_at) where done_at is not null;
