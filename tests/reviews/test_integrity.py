"""The append-only records: hash chains, `manage.py verify_log`, and PostgreSQL's own refusal
to let the application's role (or anyone, without first disabling a trigger) change them.

The chain and verify_log tests run on SQLite and PostgreSQL; there, a "tamperer" edits rows
the way someone with raw database access would (on PostgreSQL as the superuser, after
disabling the table's trigger). The `postgres` tests act as the role the application
connects with (`SET ROLE misyn_app`), not as the superuser the test runner is.
"""

from __future__ import annotations

import importlib
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from reviews.enums import Action, FinalDecision, Meaning, Outcome, ProjectStatus
from reviews.models import (
    ActivityEntry,
    GuidelineVersion,
    Project,
    ReviewPolicy,
    Round,
    RoundOutcome,
    Signature,
)
from reviews.models.chain import GENESIS, ChainHead
from reviews.services.activity import activity_record
from reviews.services.catalogue import catalogue_load
from reviews.services.chain import chain_verify
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory
from tests.workflow import review, reviewers_on, sign, submitted, waive_all

pytestmark = pytest.mark.django_db

APP_ROLE = "misyn_app"
APPEND_ONLY = ("reviews_activityentry", "reviews_signature", "reviews_round", "reviews_roundoutcome")
migration = importlib.import_module("reviews.migrations.0004_append_only")


# --- helpers ------------------------------------------------------------------------------


def _approved(project: Project) -> tuple[Round, list[Signature]]:
    """The whole loop with the real services: submit, two reviewers review, waive, approve."""
    round_ = submitted(project)
    technical, clinical = reviewers_on(project)
    signatures = []
    for reviewer in (technical, clinical):
        review(round_, reviewer)
        waive_all(round_, reviewer)
        signatures.append(sign(round_, reviewer, Meaning.APPROVE))
    return round_, signatures


def _log(actor: Any, n: int) -> list[ActivityEntry]:
    with transaction.atomic():
        return [
            activity_record(actor=actor, action=Action.CHANGE, obj=actor, new={"step": i, "note": "ünïcode ✓"})
            for i in range(n)
        ]


@contextmanager
def _tamperer(table: str) -> Iterator[Any]:
    """A cursor of someone with raw database access. On PostgreSQL that takes a superuser
    who first disables the table's append-only trigger (the test transaction undoes it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _switch_trigger(cursor, table)
        yield cursor
        if connection.vendor == "postgresql":
            _switch_trigger(cursor, table, "ENABLE")


def _switch_trigger(cursor: Any, table: str, how: str = "DISABLE") -> None:
    # ALTER TABLE refuses while this transaction has pending (deferred foreign key) checks.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    cursor.execute(f"ALTER TABLE {table} {how} TRIGGER {table}_append_only")


def _verify_log() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_log", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _verify_log_fails() -> tuple[str, str, CommandError]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_log", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), failure.value


# --- the hash chain -----------------------------------------------------------------------


def test_appends_link_each_row_to_the_one_before(researcher):
    entries = _log(researcher, 5)
    rows = list(ActivityEntry.objects.filter(pk__in=[e.pk for e in entries]).order_by("seq"))
    assert [row.seq for row in rows] == list(range(rows[0].seq, rows[0].seq + 5))
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.hash
    # Read back from the database, every row still hashes to what was stored.
    assert all(row.compute_hash() == row.hash for row in rows)
    head = ChainHead.objects.get(name="activity")
    assert (head.seq, head.last_hash) == (rows[-1].seq, rows[-1].hash)
    assert list(chain_verify(ActivityEntry)) == []


def test_the_first_row_links_to_the_genesis_hash(researcher):
    _log(researcher, 2)
    first = ActivityEntry.objects.order_by("seq").first()
    assert first is not None and first.seq == 1 and first.prev_hash == GENESIS


def test_a_row_changed_in_place_is_reported(researcher):
    entries = _log(researcher, 4)
    target = entries[1]
    with _tamperer("reviews_activityentry") as cursor:
        cursor.execute("UPDATE reviews_activityentry SET actor_name = %s WHERE id = %s", ["Mallory", target.pk])
    breaks = list(chain_verify(ActivityEntry))
    assert [(b.pk, b.seq) for b in breaks] == [(target.pk, target.seq)]
    assert "does not match its hash" in breaks[0].problem


def test_a_row_rewritten_with_a_fresh_hash_breaks_the_link_of_the_next(researcher):
    entries = _log(researcher, 4)
    forged = ActivityEntry.objects.get(pk=entries[1].pk)
    forged.new = {"step": 1, "note": "forged"}
    with _tamperer("reviews_activityentry") as cursor:
        cursor.execute(
            "UPDATE reviews_activityentry SET new = %s, hash = %s WHERE id = %s",
            ['{"step": 1, "note": "forged"}', forged.compute_hash(), forged.pk],
        )
    breaks = list(chain_verify(ActivityEntry))
    assert [(b.pk, b.problem) for b in breaks] == [(entries[2].pk, "its link to the previous row does not match")]


def test_a_deleted_middle_row_is_reported(researcher):
    entries = _log(researcher, 5)
    gone = entries[2]
    with _tamperer("reviews_activityentry") as cursor:
        cursor.execute("DELETE FROM reviews_activityentry WHERE id = %s", [gone.pk])
    breaks = list(chain_verify(ActivityEntry))
    assert [(b.seq, b.pk) for b in breaks] == [(gone.seq, None), (gone.seq + 1, entries[3].pk)]
    assert f"missing; the next row present is at position {gone.seq + 1}" in breaks[0].problem


def test_a_deleted_last_row_shows_against_the_head(researcher):
    entries = _log(researcher, 3)
    with _tamperer("reviews_activityentry") as cursor:
        cursor.execute("DELETE FROM reviews_activityentry WHERE id = %s", [entries[-1].pk])
    breaks = list(chain_verify(ActivityEntry))
    assert len(breaks) == 1 and breaks[0].pk is None
    assert f"head records {entries[-1].seq} rows but the table ends at position {entries[-2].seq}" in breaks[0].problem


def test_a_head_that_does_not_match_the_table_is_reported(researcher):
    _log(researcher, 2)
    ChainHead.objects.filter(name="activity").update(last_hash="f" * 64)
    breaks = list(chain_verify(ActivityEntry))
    assert len(breaks) == 1 and "head records" in breaks[0].problem


def test_rows_without_a_head_are_reported(researcher):
    _log(researcher, 2)
    ChainHead.objects.filter(name="activity").delete()
    assert [b.problem for b in chain_verify(ActivityEntry)] == ["rows exist but the chain has no head"]


def test_a_changed_signature_is_reported(project):
    _round, (first, _second) = _approved(project)
    assert list(chain_verify(Signature)) == []
    with _tamperer("reviews_signature") as cursor:
        cursor.execute("UPDATE reviews_signature SET meaning = %s WHERE id = %s", [Meaning.REJECT, first.pk])
    assert [(b.chain, b.pk, b.seq) for b in chain_verify(Signature)] == [("signature", first.pk, first.seq)]


def test_models_refuse_to_change_or_delete_chained_rows(project):
    _round, (signature, _second) = _approved(project)
    signature.meaning = Meaning.REJECT
    with pytest.raises(ValueError, match="append-only"):
        signature.save()
    with pytest.raises(ValueError, match="append-only"):
        signature.delete()
    outcome = RoundOutcome.objects.get(round__project=project)
    with pytest.raises(ValueError, match="final"):
        outcome.delete()


# --- manage.py verify_log -----------------------------------------------------------------


def test_verify_log_on_a_clean_database_says_ok_with_counts(project):
    _approved(project)
    out, err = _verify_log()
    activity = ActivityEntry.objects.count()
    assert err == ""
    assert f"reviews_activityentry hash chain (activity): {activity} rows checked, OK" in out
    head = ChainHead.objects.get(name="signature")
    assert (
        f"reviews_signature hash chain (signature): 2 rows checked, OK; head at position 2, hash {head.last_hash}"
        in out
    )
    assert "reviews_signature round digests: 2 rows checked, OK" in out
    assert "reviews_round frozen text digests: 1 row checked, OK" in out
    assert out.rstrip().endswith("verify_log: OK, every chain and digest holds.")


def test_verify_log_lists_every_break_and_exits_with_status_1(project):
    _round, (first, _second) = _approved(project)
    entries = list(ActivityEntry.objects.order_by("seq"))
    changed, deleted = entries[3], entries[7]
    with _tamperer("reviews_activityentry") as cursor:
        cursor.execute('UPDATE reviews_activityentry SET new = \'{"status": "approved"}\' WHERE id = %s', [changed.pk])
        cursor.execute("DELETE FROM reviews_activityentry WHERE id = %s", [deleted.pk])
    with _tamperer("reviews_signature") as cursor:
        cursor.execute("UPDATE reviews_signature SET printed_name = 'Someone Else' WHERE id = %s", [first.pk])

    out, err, failure = _verify_log_fails()

    assert failure.returncode == 1  # what `manage.py verify_log` exits with
    assert "4 breaks found" in str(failure)
    assert err.splitlines() == [
        f"BREAK table=reviews_activityentry row={changed.pk} position={changed.seq}: "
        "its content does not match its hash (changed after writing)",
        f"BREAK table=reviews_activityentry row=- position={deleted.seq}: "
        f"missing; the next row present is at position {deleted.seq + 1}",
        f"BREAK table=reviews_activityentry row={entries[8].pk} position={deleted.seq + 1}: "
        "its link to the previous row does not match",
        f"BREAK table=reviews_signature row={first.pk} position={first.seq}: "
        "its content does not match its hash (changed after writing)",
    ]
    assert f"({'activity'}): {len(entries) - 1} rows checked, 3 breaks" in out
    assert "reviews_signature hash chain (signature): 2 rows checked, 1 break" in out
    assert "verify_log: OK" not in out


def test_verify_log_reports_a_round_whose_frozen_text_changed(project):
    round_, _signatures = _approved(project)
    with _tamperer("reviews_round") as cursor:
        cursor.execute(
            "UPDATE reviews_round SET canonical_json = replace(canonical_json, %s, %s) WHERE id = %s",
            ["Documented in the protocol", "Never documented", round_.pk],
        )
    _out, err, _failure = _verify_log_fails()
    assert err.splitlines() == [
        f"BREAK table=reviews_round row={round_.pk} position=-: "
        f"round {round_.number} of project {project.pk}: its frozen text does not match its digest"
    ]


def test_verify_log_reports_signatures_whose_round_digest_changed(project):
    """Someone re-freezes the round consistently (text and digest): the signatures no longer cover it."""
    round_, (first, second) = _approved(project)
    with _tamperer("reviews_round") as cursor:
        cursor.execute(
            "UPDATE reviews_round SET canonical_json = canonical_json || ' ', "
            "digest = encode(sha256(convert_to(canonical_json || ' ', 'UTF8')), 'hex') WHERE id = %s"
            if connection.vendor == "postgresql"
            else "UPDATE reviews_round SET canonical_json = canonical_json || ' ', digest = %s WHERE id = %s",
            [round_.pk] if connection.vendor == "postgresql" else [_sha256(round_.canonical_json + " "), round_.pk],
        )
    _out, err, _failure = _verify_log_fails()
    problem = "the digest it signed is not its round's digest (the round changed since)"
    assert err.splitlines() == [
        f"BREAK table=reviews_signature row={first.pk} position={first.seq}: {problem}",
        f"BREAK table=reviews_signature row={second.pk} position={second.seq}: {problem}",
    ]


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_verify_log_walks_every_row_in_small_batches(project):
    _approved(project)
    rows = ActivityEntry.objects.count()
    out = io.StringIO()
    call_command("verify_log", "--batch", "7", stdout=out, stderr=io.StringIO())
    assert f"{rows} rows checked, OK" in out.getvalue()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("verify_log", "--batch", "0", stdout=io.StringIO())


# --- the Django admin: policies editable and logged, append-only records read-only --------


def test_admin_changes_a_policy_and_the_change_is_logged(client, admin_user, catalogue):
    client.force_login(admin_user)
    add = reverse("admin:reviews_reviewpolicy_add")
    form = {
        "version": catalogue.pk,
        "approvals_required": 3,
        "require_technical_and_non_technical": "on",
        "final_decision": FinalDecision.ADMIN,
        "review_days": 14,
        "reminder_days": 2,
    }
    assert client.post(add, form).status_code == 302
    policy = ReviewPolicy.objects.get(version=catalogue)
    created = ActivityEntry.objects.get(object_type="reviews.reviewpolicy", action=Action.CREATE)
    assert created.actor == admin_user and created.new["approvals_required"] == 3

    change = reverse("admin:reviews_reviewpolicy_change", args=[policy.pk])
    response = client.post(change, {**form, "approvals_required": 1, "require_technical_and_non_technical": ""})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.approvals_required == 1 and not policy.require_technical_and_non_technical
    changed = ActivityEntry.objects.get(object_type="reviews.reviewpolicy", action=Action.CHANGE)
    assert changed.old == {"approvals_required": 3, "require_technical_and_non_technical": True}
    assert changed.new == {"approvals_required": 1, "require_technical_and_non_technical": False}

    page = client.get(reverse("admin:reviews_guidelineversion_change", args=[catalogue.pk])).content.decode()
    assert "1 approval; final decision: an administrator records the final decision;" in page
    assert change in page

    assert (
        client.post(reverse("admin:reviews_reviewpolicy_delete", args=[policy.pk]), {"post": "yes"}).status_code == 302
    )
    deleted = ActivityEntry.objects.get(object_type="reviews.reviewpolicy", action=Action.DELETE)
    assert deleted.old["approvals_required"] == 1
    assert list(chain_verify(ActivityEntry)) == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"approvals_required": 0}, "approvals_required", "greater than or equal to 1"),
        ({"approvals_required": "many"}, "approvals_required", "Enter a whole number"),
        ({"review_days": 0}, "review_days", "greater than or equal to 1"),
        ({"reminder_days": 21}, "reminder_days", "The reminder must come before the due date"),
    ],
)
def test_admin_refuses_an_invalid_policy_and_names_the_field(client, admin_user, catalogue, changes, field, message):
    client.force_login(admin_user)
    form = {"version": catalogue.pk, "approvals_required": 2, "final_decision": "policy", "review_days": 21}
    response = client.post(reverse("admin:reviews_reviewpolicy_add"), {**form, "reminder_days": 3, **changes})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and message in errors[field][0]
    assert not ReviewPolicy.objects.exists()
    assert not ActivityEntry.objects.filter(object_type="reviews.reviewpolicy").exists()


def test_version_admin_shows_the_default_policy_with_a_link_to_set_one(client, admin_user, catalogue):
    client.force_login(admin_user)
    page = client.get(reverse("admin:reviews_guidelineversion_change", args=[catalogue.pk])).content.decode()
    assert "The defaults (2 approvals" in page
    assert f"{reverse('admin:reviews_reviewpolicy_add')}?version={catalogue.pk}" in page


@pytest.mark.parametrize("model", ["activityentry", "signature", "roundoutcome"])
def test_admin_shows_append_only_records_but_never_changes_them(client, admin_user, project, model):
    _approved(project)
    row = {"activityentry": ActivityEntry, "signature": Signature, "roundoutcome": RoundOutcome}[model].objects.first()
    client.force_login(admin_user)
    listing = client.get(reverse(f"admin:reviews_{model}_changelist"))
    assert listing.status_code == 200
    view = client.get(reverse(f"admin:reviews_{model}_change", args=[row.pk]))
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    if model != "roundoutcome":
        assert row.hash in view.content.decode()  # the chain fields are shown, read-only
    assert client.post(reverse(f"admin:reviews_{model}_change", args=[row.pk]), {}).status_code == 403
    assert client.post(reverse(f"admin:reviews_{model}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse(f"admin:reviews_{model}_add")).status_code == 403
    assert list(chain_verify(ActivityEntry)) == [] and list(chain_verify(Signature)) == []


def test_admin_cannot_delete_a_user_who_is_on_the_record(client, project):
    """Deleting a signer would cascade into the record; PROTECT stops it before any row goes."""
    _round, (signature, _second) = _approved(project)
    superuser = AdminFactory()
    client.force_login(superuser)
    response = client.post(reverse("admin:reviews_user_delete", args=[signature.signer_id]), {"post": "yes"})
    assert response.status_code == 200 and "Cannot delete" in response.content.decode()
    assert Signature.objects.filter(pk=signature.pk).exists()


# --- PostgreSQL: the database itself refuses -----------------------------------------------


@contextmanager
def _as_app_role() -> Iterator[None]:
    """Act as the application's database role on the test's own connection."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {APP_ROLE}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def _refused(sql: str, params: list[Any] | None = None) -> str:
    """Run one statement that must fail, in a savepoint so the test's transaction lives on."""
    with pytest.raises(DatabaseError) as failure, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(failure.value)


def _current_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return str(cursor.fetchone()[0])


@pytest.mark.postgres
def test_the_application_role_may_do_everything_else_on_every_table():
    """Grants cover every table, those created after 0004 (sessions, audits) included."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname,
                   has_table_privilege(%s, c.oid, 'SELECT'), has_table_privilege(%s, c.oid, 'INSERT'),
                   has_table_privilege(%s, c.oid, 'UPDATE'), has_table_privilege(%s, c.oid, 'DELETE'),
                   has_table_privilege(%s, c.oid, 'TRUNCATE')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = current_schema()
            """,
            [APP_ROLE] * 5,
        )
        privileges = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        assert cursor.fetchone() == (False,)
    assert {"django_session", "reviews_project", "audits_auditrun", *APPEND_ONLY} <= set(privileges)
    for table, (select, insert, update, delete, truncate) in privileges.items():
        assert select and insert and not truncate, table
        assert (update, delete) == ((False, False) if table in APPEND_ONLY else (True, True)), table


@pytest.mark.postgres
def test_every_append_only_table_has_its_trigger_and_no_truncate_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgtype FROM pg_trigger WHERE tgname LIKE %s AND NOT tgisinternal",
            ["%_append_only"],
        )
        triggers = dict(cursor.fetchall())
    assert set(triggers) == set(APPEND_ONLY)
    # tgtype bits: 1 row, 2 before, 4 insert, 8 delete, 16 update, 32 truncate.
    assert set(triggers.values()) == {1 | 2 | 8 | 16}


@pytest.mark.postgres
def test_the_application_role_cannot_update_delete_or_truncate_the_records(project):
    round_, (signature, _second) = _approved(project)
    entry = ActivityEntry.objects.order_by("seq").last()
    outcome = RoundOutcome.objects.get(round=round_)
    with _as_app_role():
        assert _current_role() == APP_ROLE
        for model, row in ((Signature, signature), (ActivityEntry, entry), (Round, round_), (RoundOutcome, outcome)):
            table = model._meta.db_table
            with pytest.raises(DatabaseError, match=f"permission denied for table {table}"), transaction.atomic():
                model.objects.filter(pk=row.pk).update(id=row.pk)
            # (The ORM's delete would not even get there for rounds: PROTECT stops it first.)
            assert f"permission denied for table {table}" in _refused(f"DELETE FROM {table} WHERE id = %s", [row.pk])  # noqa: S608 (a fixed table name)
            assert f"permission denied for table {table}" in _refused(f"TRUNCATE {table} CASCADE")
        assert "permission denied" in _refused("UPDATE reviews_signature SET meaning = 'reject'")
        assert "permission denied" in _refused("DELETE FROM reviews_activityentry")
        # Nor can it take the trigger away, or hand itself the privileges back.
        assert "must be owner" in _refused(
            "ALTER TABLE reviews_signature DISABLE TRIGGER reviews_signature_append_only"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"GRANT UPDATE ON reviews_signature TO {APP_ROLE}")  # only warns: no privileges granted
        assert "permission denied" in _refused("UPDATE reviews_signature SET meaning = 'reject'")
        # Reading and appending are what it does all day.
        assert Signature.objects.filter(round=round_).count() == 2
        _log(project.owner, 2)
    stored = Signature.objects.get(pk=signature.pk)
    assert (stored.meaning, stored.hash) == (signature.meaning, signature.hash)
    assert ActivityEntry.objects.filter(pk=entry.pk).exists()
    assert list(chain_verify(ActivityEntry)) == [] and list(chain_verify(Signature)) == []


@pytest.mark.postgres
def test_the_whole_review_loop_runs_as_the_application_role():
    """Everything from an empty database to an approved project, as misyn_app: the application
    needs no privilege that 0004 withholds."""
    with _as_app_role():
        version, _created = catalogue_load()
        project = ProjectFactory(owner=ResearcherFactory(), guideline_version=version)
        round_, signatures = _approved(project)
        project.refresh_from_db()
        assert project.status == ProjectStatus.APPROVED
        assert RoundOutcome.objects.get(round=round_).outcome == Outcome.APPROVED
        assert [s.meaning for s in signatures] == [Meaning.APPROVE, Meaning.APPROVE]
        out, err = _verify_log()  # verify_log needs nothing but SELECT
        assert _current_role() == APP_ROLE
    assert err == "" and "verify_log: OK" in out
    assert "reviews_signature hash chain (signature): 2 rows checked, OK" in out


@pytest.mark.postgres
def test_the_owner_is_stopped_by_the_trigger(project):
    round_, (signature, _second) = _approved(project)
    assert _current_role() == "postgres" or connection.settings_dict["USER"] == _current_role()
    for table, pk in (
        ("reviews_signature", signature.pk),
        ("reviews_activityentry", ActivityEntry.objects.order_by("seq").first().pk),
        ("reviews_round", round_.pk),
        ("reviews_roundoutcome", RoundOutcome.objects.get(round=round_).pk),
    ):
        assert f"{table} is append-only: UPDATE of row {pk} refused" in _refused(
            f"UPDATE {table} SET id = id WHERE id = %s",  # noqa: S608 (fixed table names)
            [pk],
        )
        assert f"{table} is append-only: DELETE of row {pk} refused" in _refused(
            f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
            [pk],
        )
    assert Signature.objects.get(pk=signature.pk).hash == signature.hash


@pytest.mark.postgres
def test_a_superuser_who_disables_the_trigger_is_caught_by_verify_log(project):
    _round, (_first, second) = _approved(project)
    with connection.cursor() as cursor:
        _switch_trigger(cursor, "reviews_signature", "DISABLE")
        cursor.execute(
            "UPDATE reviews_signature SET meaning = %s, statement = %s WHERE id = %s",
            [Meaning.REJECT, "Forged after the fact.", second.pk],
        )
        _switch_trigger(cursor, "reviews_signature", "ENABLE")
    _out, err, failure = _verify_log_fails()
    assert err.splitlines() == [
        f"BREAK table=reviews_signature row={second.pk} position={second.seq}: "
        "its content does not match its hash (changed after writing)"
    ]
    assert failure.returncode == 1


@pytest.mark.postgres
def test_migrating_without_the_right_to_create_the_role_says_what_to_do(monkeypatch):
    """A migrating role without CREATEROLE, and no application role yet: a clear message."""
    monkeypatch.setattr(migration, "APP_ROLE", "misyn_app_that_does_not_exist")
    with _as_app_role(), connection.cursor() as cursor:  # misyn_app itself may not create roles
        problem = migration._role_problem(cursor)
    assert problem is not None
    assert "'misyn_app_that_does_not_exist', which does not exist" in problem
    assert "CREATE ROLE misyn_app_that_does_not_exist NOLOGIN;" in problem and "CREATEROLE" in problem
    with connection.cursor() as cursor:  # the superuser may
        assert migration._role_problem(cursor) is None


@pytest.mark.postgres
def test_the_migration_is_repeatable_and_reversible(project):
    """Forwards again (a re-run) and backwards leave things sane; backwards keeps the role."""

    class Editor:
        connection = connection

    round_ = submitted(project)
    migration.forwards(None, Editor())
    migration.backwards(None, Editor())
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("UPDATE reviews_round SET number = number WHERE id = %s", [round_.pk])  # no trigger now
        assert cursor.rowcount == 1
    migration.forwards(None, Editor())
    assert f"reviews_round is append-only: DELETE of row {round_.pk} refused" in _refused("DELETE FROM reviews_round")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        assert cursor.fetchone() == (1,)


def test_migration_is_a_no_op_on_sqlite(project):
    """On SQLite the migration issues no statement at all: its connection has no cursor to call."""

    class SQLiteWithoutCursor:
        vendor = "sqlite"

    class Editor:
        connection = SQLiteWithoutCursor()

    migration.forwards(None, Editor())
    migration.backwards(None, Editor())
    assert GuidelineVersion.objects.exists()
