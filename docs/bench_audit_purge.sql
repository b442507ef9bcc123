-- The purge of a month of 1,000,000 committed access-log rows: DELETE (+ the VACUUM it needs)
-- on a plain table against DROP of the month's partition (README « Partitioned access log and
-- receipts »). Creates and drops two scratch tables; run it on a scratch database:
--     psql "$DATABASE_URL" -f docs/bench_audit_purge.sql
\timing on
CREATE TABLE bench_plain (LIKE pdp_auditlog INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS);
ALTER TABLE bench_plain ADD PRIMARY KEY (id);
CREATE INDEX ON bench_plain (at); CREATE INDEX ON bench_plain (assure_id); CREATE INDEX ON bench_plain (user_id);
CREATE TRIGGER bench_plain_append_only BEFORE UPDATE OR DELETE ON bench_plain FOR EACH ROW EXECUTE FUNCTION pdp_auditlog_append_only();
CREATE TABLE bench_part (LIKE pdp_auditlog INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS) PARTITION BY RANGE (at);
CREATE TABLE bench_part_p1 PARTITION OF bench_part FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-02-01 00:00+00');
CREATE TABLE bench_part_p2 PARTITION OF bench_part FOR VALUES FROM ('2026-02-01 00:00+00') TO ('2026-03-01 00:00+00');
CREATE TABLE bench_part_default PARTITION OF bench_part DEFAULT;
ALTER TABLE bench_part ADD PRIMARY KEY (id, at);
CREATE INDEX ON bench_part (at); CREATE INDEX ON bench_part (assure_id); CREATE INDEX ON bench_part (user_id);
CREATE TRIGGER bench_part_append_only BEFORE UPDATE OR DELETE ON bench_part FOR EACH ROW EXECUTE FUNCTION pdp_auditlog_append_only();
INSERT INTO bench_plain (at, action, object_type, object_id, assure_id, changes) SELECT m + g * interval '28 days' / 1000000, 'view', 'referrals.assure', g::text, g % 100000, '{}' FROM generate_series(1, 1000000) g, (VALUES ('2026-01-01 00:00+00'::timestamptz), ('2026-02-01 00:00+00')) v(m);
INSERT INTO bench_part (at, action, object_type, object_id, assure_id, changes) SELECT m + g * interval '28 days' / 1000000, 'view', 'referrals.assure', g::text, g % 100000, '{}' FROM generate_series(1, 1000000) g, (VALUES ('2026-01-01 00:00+00'::timestamptz), ('2026-02-01 00:00+00')) v(m);
VACUUM ANALYZE bench_plain; VACUUM ANALYZE bench_part;
SELECT pg_size_pretty(pg_total_relation_size('bench_plain')) AS plain_before;
BEGIN; SELECT set_config('pdp.audit_purge', 'on', true); DELETE FROM bench_plain WHERE at < '2026-02-01 00:00+00'; COMMIT;
VACUUM bench_plain;
SELECT pg_size_pretty(pg_total_relation_size('bench_plain')) AS plain_after;
DROP TABLE bench_part_p1;
DROP TABLE bench_plain; DROP TABLE bench_part;
