-- Retention (baton.runtime.retention): rows past their window are found by their time
-- column, oldest first, in small batches; without these indexes each batch would read the
-- whole table.
create index baton_processed_at on baton_processed (processed_at);
create index baton_replies_created on baton_replies (created_at);
create index baton_outbox_created on baton_outbox (created_at);
