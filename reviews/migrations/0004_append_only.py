"""Append-only in PostgreSQL itself: the activity log, signatures, rounds and round outcomes.

Two layers, on PostgreSQL only (SQLite has neither roles nor grants; there the models'
save/delete guards and the hash chains are what remain):

1. The application's role, `misyn_app` (NOLOGIN; the login roles that web and worker connect
   with are members of it, see README "Database roles"), may read and write every table
   except that it cannot UPDATE, DELETE or TRUNCATE the four append-only tables. The role
   is created here if it does not exist yet; roles belong to the whole cluster, so a test
   database created by pytest-django finds it or creates it the same way.
2. A trigger on each of the four tables refuses UPDATE and DELETE for every role, the owner
   who runs `migrate` included, so a slip in a shell or a later data migration fails loudly.
   There is no TRUNCATE trigger: the test runner empties its databases with TRUNCATE as the
   owner, and the application's role is kept from truncating by its privileges.

A superuser (or the owner) can still disable a trigger on purpose; the hash chains and
`manage.py verify_log` are what catch that. The reverse migration drops the triggers and
their function and leaves the role and its privileges alone.
"""

from django.db import migrations

APP_ROLE = "misyn_app"
APPEND_ONLY_TABLES = ("reviews_activityentry", "reviews_signature", "reviews_round", "reviews_roundoutcome")
FUNCTION = "misyn_refuse_change_to_append_only_row"

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    END IF;
EXCEPTION
    -- Another database of this cluster created it at the same moment (parallel test runs).
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
"""

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % of row % refused', TG_TABLE_NAME, TG_OP, OLD.id
        USING HINT = 'Rows of this table are never changed or removed; append a new row instead.';
END
$$;
"""


def _role_problem(cursor) -> str | None:  # type: ignore[no-untyped-def]
    """Why the migrating role cannot create the application role, or None if it can (or need not)."""
    cursor.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [APP_ROLE])
    if cursor.fetchone():
        return None
    cursor.execute(
        "SELECT current_user, rolsuper OR rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user"
    )
    user, can_create = cursor.fetchone()
    if can_create:
        return None
    return (
        f"Migration reviews.0004_append_only needs the database role {APP_ROLE!r}, which does not exist, "
        f"and the migrating role {user!r} may not create roles. Create it once as a superuser "
        f"(`CREATE ROLE {APP_ROLE} NOLOGIN;`, then `GRANT {APP_ROLE} TO <the login role of web and worker>;`) "
        f"or give {user!r} CREATEROLE, and run `manage.py migrate` again."
    )


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        problem = _role_problem(cursor)
        if problem:
            raise RuntimeError(problem)
        cursor.execute(CREATE_ROLE)
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        tables = ", ".join(quote(table) for table in APPEND_ONLY_TABLES)
        for statement in (
            f"GRANT USAGE ON SCHEMA {schema} TO {APP_ROLE}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {APP_ROLE}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {APP_ROLE}",
            # Tables and sequences that later migrations create (as this same owner) too.
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {APP_ROLE}, PUBLIC",
            CREATE_FUNCTION,
        ):
            cursor.execute(statement)
        for table in APPEND_ONLY_TABLES:
            trigger = quote(f"{table}_append_only")
            cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {quote(table)}")
            cursor.execute(
                f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {quote(table)} "
                f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
            )


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {quote(f'{table}_append_only')} ON {quote(table)}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0003_chain_backfill")]

    operations = [migrations.RunPython(forwards, backwards)]
