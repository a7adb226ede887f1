"""Fixes after review of the register and the objection channel: what the researcher may read
of an objection, which reasons are public, a mandatory listing is not a choice, upholding while
an amendment is open, empty posts, the logged old status, and the reinstate form of the
project page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from public.forms.objections import ReinstateForm, UpholdForm
from public.models import Listing, Objection, ObjectionStatus, Remedy
from public.services.objections import (
    OPEN_AMENDMENT_NOTE,
    objection_acknowledge,
    objection_ask_researcher,
    objection_dismiss,
    objection_send,
    objection_uphold,
)
from reviews.enums import AMENDMENT_STATUSES, Action, Meaning, ProjectStatus
from reviews.models import ActivityEntry, Project, User
from reviews.services.decisions import project_amend, project_reinstate, project_suspend
from reviews.services.review import TransitionConflict
from tests.factories import ProjectFactory
from tests.public.register_world import approved, decide, set_listing, submit
from tests.workflow import answer_everything, review, reviewers_on

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"
TEXT = "Were the patients told their scans train a generator?"


def _client(user: User | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _send(project: Project) -> Objection:
    return objection_send(project=project, title=project.title, kind="objection", text=TEXT).objection


@pytest.fixture
def listed(catalogue, researcher, admin_user) -> Project:  # type: ignore[no-untyped-def]
    set_listing(Listing.OPT_IN)
    return approved(researcher, catalogue, title="Synthetic hip X-rays", admin=admin_user)


# ---------------------------------------------------------------------------------------
# 1. The researcher reads an objection only once the board asks (or publishes it)


def _respond_url(objection: Objection) -> str:
    return reverse("objection-respond", kwargs={"pk": objection.project_id, "objection_pk": objection.pk})


def test_the_researcher_cannot_read_an_objection_the_board_did_not_forward(listed, admin_user):
    received = _send(listed)
    acknowledged = _send(listed)
    objection_acknowledge(actor=admin_user, objection=acknowledged)
    dismissed = _send(listed)
    objection_dismiss(actor=admin_user, objection=dismissed, reason="Out of scope.")
    owner = _client(listed.owner)
    for objection in (received, acknowledged, dismissed):
        page = owner.get(_respond_url(objection))
        assert page.status_code == 404, objection.status
        assert TEXT not in page.content.decode()
        assert owner.post(_respond_url(objection), {"text": "Let me see."}).status_code == 404


def test_the_researcher_reads_it_once_asked_and_after_the_decision(listed, admin_user):
    objection = _send(listed)
    objection_ask_researcher(actor=admin_user, objection=objection)
    owner = _client(listed.owner)
    assert TEXT in owner.get(_respond_url(objection)).content.decode()
    # Decided without a response from the researcher: still theirs to read (the ask is in the log).
    objection_dismiss(actor=admin_user, objection=objection, reason="Consent covers it.")
    page = owner.get(_respond_url(objection))
    assert page.status_code == 200 and TEXT in page.content.decode() and "Consent covers it." in page.content.decode()


def test_a_published_text_is_readable_by_the_researcher(listed, admin_user):
    objection = _send(listed)
    Objection.objects.filter(pk=objection.pk).update(publish_text=True)
    page = _client(listed.owner).get(_respond_url(objection))
    assert page.status_code == 200 and "not waiting for a response" in page.content.decode()


def test_the_sender_is_told_who_reads_the_text(listed):
    sent = objection_send(project=listed, title=listed.title, kind="objection", text=TEXT)
    track = unescape(Client().get(reverse("objection-track", kwargs={"token": sent.token})).content.decode())
    assert "Only the board reads this text, and the project's researcher if the board asks them" in track
    form = unescape(Client().get(reverse("objection-new", kwargs={"pk": listed.pk})).content.decode())
    assert "may show it to the project's researcher to ask for a response" in form


# ---------------------------------------------------------------------------------------
# 2. A suspension's reason is public; a reinstatement's stays in the project's history


def test_the_feed_gives_the_suspensions_reason_never_the_reinstatements(client, listed, admin_user):
    project_suspend(actor=admin_user, project=listed, reason="PUBLIC-SUSPENSION-REASON")
    project_reinstate(actor=admin_user, project=listed, reason="INTERNAL-REINSTATE-REASON")
    feed = client.get(reverse("public-feed")).content
    entries = ET.fromstring(feed).findall(f"{ATOM}entry")  # noqa: S314 (our own feed, in a test)
    summaries = {e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}summary") or "" for e in entries}
    assert "PUBLIC-SUSPENSION-REASON" in summaries["Approval suspended: Synthetic hip X-rays"]
    assert summaries["Approval reinstated: Synthetic hip X-rays"].startswith("<p>Approval reinstated.</p>")
    for url in (reverse("public-feed"), reverse("public-register"), reverse("public-register-json"),
                reverse("public-project", kwargs={"pk": listed.pk})):  # fmt: skip
        assert "INTERNAL-REINSTATE-REASON" not in client.get(url).content.decode(), url
    # It is kept in the project's history.
    assert ActivityEntry.objects.get(action=Action.REINSTATE).new["reason"] == "INTERNAL-REINSTATE-REASON"


def test_each_reason_field_says_who_reads_it(listed, admin_user):
    objection = _send(listed)
    triage = _client(admin_user).get(reverse("objection-detail", kwargs={"pk": objection.pk})).content.decode()
    assert "Shown to the sender and on the public register (with a suspension, as its reason)." in triage
    assert str(UpholdForm().fields["reason"].help_text).startswith("Shown to the sender and on the public register")
    assert "not shown on the public register" in str(ReinstateForm().fields["reason"].help_text)


# ---------------------------------------------------------------------------------------
# 3. Mandatory listing is the board's, not the researcher's choice


def test_a_project_listed_only_because_listing_was_mandatory_leaves_when_it_is_optional(
    client, catalogue, researcher, admin_user
):
    set_listing(Listing.MANDATORY)
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Listed by the board's rule")
    answer_everything(project)
    owner = _client(researcher)
    assert owner.post(reverse("project-submit", kwargs={"pk": project.pk}), {}).status_code == 302
    project.refresh_from_db()
    assert project.public_listing is False
    decide(project.rounds.get(), admin=admin_user)
    url = reverse("public-project", kwargs={"pk": project.pk})
    assert client.get(url).status_code == 200  # mandatory: on the register

    set_listing(Listing.OPT_IN)
    assert client.get(url).status_code == 404
    assert "Listed by the board" not in client.get(reverse("public-register")).content.decode()


# ---------------------------------------------------------------------------------------
# 4. Upholding while an amendment is open


def _amendment_in(project: Project, status: str, admin: User) -> None:
    """Drive an approved project into one of the amendment's states with the real services."""
    project_amend(actor=project.owner, project=project, reason="A new hospital joins.")
    if status != ProjectStatus.AMENDMENT:
        round_ = submit(project, listed=True)
        if status == ProjectStatus.SUBMITTED:
            # The reviewers who accepted round 1 take the amendment's round at once (in review);
            # without them it waits for reviewers, as submitted.
            Project.objects.filter(pk=project.pk).update(status=ProjectStatus.SUBMITTED)
        elif status == ProjectStatus.IN_REVIEW:
            review(round_, reviewers_on(project, admin=admin)[0])
        elif status == ProjectStatus.CHANGES_REQUESTED:
            decide(round_, Meaning.REQUEST_CHANGES, admin=admin)
    project.refresh_from_db()
    assert project.status == status


STATES = sorted(AMENDMENT_STATUSES)


@pytest.mark.parametrize("status", STATES, ids=STATES)
def test_the_amendment_remedy_is_answered_by_the_open_amendment(client, listed, admin_user, status):
    _amendment_in(listed, status, admin_user)
    objection = _send(listed)
    response = _client(admin_user).post(
        reverse("objection-detail", kwargs={"pk": objection.pk}),
        {"action": "uphold", "remedy": Remedy.AMENDMENT, "reason": "Add the consent form."},
    )
    assert response.status_code == 302
    objection.refresh_from_db()
    listed.refresh_from_db()
    assert objection.status == ObjectionStatus.UPHELD and listed.status == status  # no status changed
    assert OPEN_AMENDMENT_NOTE in objection.decision_reason
    entry = ActivityEntry.objects.get(action=Action.TRIAGE, new__step="uphold")
    assert entry.new["answered_by_open_amendment"] is True and entry.new["project_status"] == status
    assert not ActivityEntry.objects.filter(action=Action.AMEND, new__reason__startswith="Objection").exists()
    page = client.get(reverse("public-project", kwargs={"pk": listed.pk})).content.decode()
    assert "that amendment answers it" in page


@pytest.mark.parametrize("status", STATES, ids=STATES)
def test_a_suspension_waits_for_an_amendment_under_review(listed, admin_user, status):
    _amendment_in(listed, status, admin_user)
    objection = _send(listed)
    response = _client(admin_user).post(
        reverse("objection-detail", kwargs={"pk": objection.pk}),
        {"action": "uphold", "remedy": Remedy.SUSPENSION, "reason": "No consent."},
    )
    objection.refresh_from_db()
    listed.refresh_from_db()
    if status == ProjectStatus.AMENDMENT:  # being edited: the approval stands, and is suspended
        assert response.status_code == 302 and listed.status == ProjectStatus.SUSPENDED
        assert objection.status == ObjectionStatus.UPHELD
        return
    assert response.status_code == 409
    assert "An amendment of this project is under review" in unescape(response.content.decode())
    assert "Uphold with the amendment remedy, or wait for the decision." in response.content.decode()
    assert listed.status == status and objection.status == ObjectionStatus.RECEIVED
    assert not ActivityEntry.objects.filter(action=Action.SUSPEND).exists()


# ---------------------------------------------------------------------------------------
# 6. An empty POST is a bound form with its errors


def test_an_empty_post_names_the_missing_fields(listed, admin_user):
    empty = Client().post(reverse("objection-new", kwargs={"pk": listed.pk}), {})
    assert empty.status_code == 400
    assert "Write your question or objection." in empty.content.decode()
    assert Objection.objects.count() == 0

    objection = _send(listed)
    objection_ask_researcher(actor=admin_user, objection=objection)
    respond = _client(listed.owner).post(_respond_url(objection), {})
    assert respond.status_code == 400 and "Write the response." in respond.content.decode()


# ---------------------------------------------------------------------------------------
# 7. The logged old status is the one the row had, not the caller's stale copy


def test_the_log_records_the_status_the_objection_had(listed, admin_user):
    stale = _send(listed)  # as a page loaded before another administrator acknowledged it
    objection_acknowledge(actor=admin_user, objection=Objection.objects.get(pk=stale.pk))
    assert stale.status == ObjectionStatus.RECEIVED
    objection_ask_researcher(actor=admin_user, objection=stale)
    ask = ActivityEntry.objects.get(action=Action.TRIAGE, new__step="ask_researcher")
    assert ask.old == {"status": ObjectionStatus.ACKNOWLEDGED}

    objection_dismiss(actor=admin_user, objection=stale, reason="Answered.")
    dismiss = ActivityEntry.objects.get(action=Action.TRIAGE, new__step="dismiss")
    assert dismiss.old == {"status": ObjectionStatus.AWAITING_RESEARCHER}


# ---------------------------------------------------------------------------------------
# 8. The project page's reinstate form is ReinstateForm's


def test_the_reinstate_form_on_the_project_page_posts_successfully(listed, admin_user):
    objection = _send(listed)
    objection_uphold(actor=admin_user, objection=objection, remedy=Remedy.SUSPENSION, reason="No consent.")
    admin = _client(admin_user)
    overview = reverse("project-detail", kwargs={"pk": listed.pk})
    page = admin.get(overview).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page[page.index("reinstate-heading") :], re.S
    )
    assert form, "no reinstate form on the page"
    action, body = form.groups()
    names = set(re.findall(r'name="([^"]+)"', body)) - {"csrfmiddlewaretoken"}
    assert names == {ReinstateForm().add_prefix("reason")}
    bound = ReinstateForm().fields["reason"]
    assert str(bound.label) in unescape(body) and str(bound.help_text) in unescape(body)
    assert f'for="{ReinstateForm()["reason"].id_for_label}"' in body

    done = admin.post(action, {name: "The consent forms were found." for name in names})
    assert done.status_code == 302
    listed.refresh_from_db()
    assert listed.status == ProjectStatus.APPROVED
    assert "The approval is reinstated" in admin.get(overview).content.decode()


def test_the_service_refuses_a_suspension_under_review_directly(listed, admin_user):
    _amendment_in(listed, ProjectStatus.SUBMITTED, admin_user)
    with pytest.raises(TransitionConflict, match="under review"):
        project_suspend(actor=admin_user, project=listed, reason="No.")


def test_the_json_says_the_suspension_of_the_page(client, listed, admin_user):
    project_suspend(actor=admin_user, project=listed, reason="Labels missing.")
    data = json.loads(client.get(reverse("public-register-json")).content)
    assert data["projects"][0]["suspension"]["reason"] == "Labels missing."
