-- Every index is one more B-tree page written (one more WAL frame) by each
-- commit that touches its rows, so indexes that no query uses are dropped,
-- and the one FindActive uses keeps only the rows FindActive can return.
-- EXPLAIN QUERY PLAN of the store's queries (TestQueryPlans) shows:
--
-- requests_expires: ExpiresBefore is only ever combined with a status
-- filter, and requests_status serves that (it also gives the order).
DROP INDEX requests_expires;
-- audit_time: the Since filter is read in seq order from the primary key,
-- which is also the order events are returned in.
DROP INDEX audit_time;
-- jobs_kind_run: ListJobs by kind (an operator listing) reads jobs_run in
-- order and skips the other kinds; there are only a handful of kinds.
DROP INDEX jobs_kind_run;
-- requests_active: only active requests. A request is active once in its
-- life, so the index changes twice per request instead of at every status
-- change, and FindActive never steps over requests that are not active.
DROP INDEX requests_active;
CREATE INDEX requests_active ON requests (requester, resource, created_at, id) WHERE status = 'active';
