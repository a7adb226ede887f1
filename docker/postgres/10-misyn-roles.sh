#!/bin/sh
# The database roles of MISyn Review (README, "Database roles").
#
#   misyn      the owner ($POSTGRES_USER): owns the tables; only `manage.py migrate` uses it.
#   misyn_app  NOLOGIN: what the application may do. Migration reviews.0004_append_only grants it
#              read and write on every table except UPDATE, DELETE and TRUNCATE on the activity
#              log, signatures, rounds and round outcomes.
#   misyn_web  LOGIN, a member of misyn_app: web, worker and beat connect as this role.
#
# The postgres image runs this once, when it initialises an empty data volume. It is safe to run
# again, for a volume made before it existed or to change the password:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-misyn-roles.sh
set -eu

: "${MISYN_WEB_PASSWORD:?set MISYN_WEB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v web_password="$MISYN_WEB_PASSWORD" <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'misyn_app') THEN
        CREATE ROLE misyn_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'misyn_web') THEN
        CREATE ROLE misyn_web LOGIN;
    END IF;
END
$$;
ALTER ROLE misyn_web WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD :'web_password';
GRANT misyn_app TO misyn_web;
SQL
