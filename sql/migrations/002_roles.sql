-- 002: least privilege on the pay tables. Applied by scripts/stack/postgres.sh as driverpay_owner,
-- which owns every object; roles, database and schema privileges are set by that script's bootstrap.
--   driverpay         the streaming job's JDBC upserts (INSERT ... ON CONFLICT DO UPDATE): SELECT,
--                     INSERT, UPDATE; no DELETE/TRUNCATE (the job never removes pay), no DDL.
--   driverpay_reader  the read API: SELECT only (its sessions are also read-only by default).
-- Nothing else, not even schema_migrations, is visible to either role.

REVOKE ALL ON pay_lines, driver_daily_pay, schema_migrations FROM PUBLIC, driverpay, driverpay_reader;
GRANT SELECT, INSERT, UPDATE ON pay_lines, driver_daily_pay TO driverpay;
GRANT SELECT ON pay_lines, driver_daily_pay TO driverpay_reader;
REVOKE EXECUTE ON FUNCTION set_updated_at() FROM PUBLIC;
