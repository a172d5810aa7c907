-- Retention (baton_hub.retention): finished workflows, oldest change first. The predicate
-- is the prune rule's condition, so the index serves it (and stays out of the way of the
-- active workflows' updates).
create index hub_workflows_finished on hub_workflows (updated_at)
    where status in ('CANCELLED', 'COMPLETED', 'FAILED');
