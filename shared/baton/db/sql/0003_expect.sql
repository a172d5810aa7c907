-- Optimistic writes: one statement writes what was computed from rows read earlier and
-- checks, with this function, that those rows had not changed meanwhile. A failed check
-- aborts the whole statement (nothing of it is written) with serialization_failure, which
-- callers read as "read again and retry".
create function baton_expect(ok boolean, what text) returns void
language plpgsql as $$
begin
    if not ok then
        raise exception using errcode = 'serialization_failure', message = what;
    end if;
end
$$;
