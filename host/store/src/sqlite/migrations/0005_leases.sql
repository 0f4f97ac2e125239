-- Schema version 5: an index of the activity tasks under a lease.
--
-- Each claim first deletes the tasks left over by a worker that held them when their instance
-- finished and then died: only tasks whose lease has run out can be such left-overs (a finishing
-- instance deletes its tasks that nobody holds). Without this index that clean-up read every
-- task waiting for a claim, so a fan-out of N activities cost N claims of N rows each. Leased
-- tasks are the few running at once, so the index stays small.
CREATE INDEX activity_tasks_by_lease ON activity_tasks (lease_until) WHERE lease_owner IS NOT NULL;
