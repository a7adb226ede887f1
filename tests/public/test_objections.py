"""The objection channel: anyone sends a question or an objection about a project on the
register and follows it by a tracking link; administrators triage and decide; the researcher
responds when asked; an upheld objection opens an amendment or suspends the approval."""

from __future__ import annotations

import hashlib
import re
from html import unescape
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from public.models import Objection, ObjectionResponse, ObjectionStatus, Remedy
from public.selectors.objections import register_objections
from public.services.objections import (
    ObjectionClosed,
    objection_acknowledge,
    objection_ask_researcher,
    objection_dismiss,
    objection_researcher_respond,
    objection_response_publish,
    objection_send,
    objection_uphold,
)
from reviews.enums import Action, ProjectStatus
from reviews.models import ActivityEntry, Notification, Project, User
from reviews.services.chain import chain_verify
from reviews.services.review import TransitionConflict
from tests.factories import ProjectFactory
from tests.workflow import review, reviewers_on, sign, submitted, waive_all

pytestmark = pytest.mark.django_db

TEXT = "The synthetic knee images are used to train a triage model; how are patients told?"
SENDER = {"name": "Sam Sender", "email": "sam.sender@example.org"}


def listed_approved(owner: User, catalogue: Any, *, title: str, admin: User | None = None) -> Project:
    """A project approved through the real review loop, then listed on the public register."""
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title=title)
    round_ = submitted(project)
    team = reviewers_on(project, admin=admin)
    for reviewer in team:
        review(round_, reviewer)
    waive_all(round_, team[0])
    for reviewer in team:
        sign(round_, reviewer)
    Project.objects.filter(pk=project.pk).update(public_listing=True)
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    return project


def send(project: Project, **fields: str) -> tuple[Objection, str]:
    sent = objection_send(project=project, title=project.title, kind="objection", text=TEXT, **fields)
    return sent.objection, sent.token


def _form(**changes: str) -> dict[str, str]:
    return {"kind": "objection", "text": TEXT, "name": "", "email": "", "website": "", **changes}


def _tracking_token(html: str) -> str:
    found = re.search(r"/register/objections/([A-Za-z0-9_-]+)/", html)
    assert found, "no tracking link on the page"
    return found.group(1)


def _client(user: User | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def listed(catalogue, researcher, admin_user) -> Project:
    return listed_approved(researcher, catalogue, title="Synthetic knee MRI for triage", admin=admin_user)


# ---------------------------------------------------------------------------------------
# Sending


def test_anyone_sends_an_objection_and_gets_a_tracking_link(listed, admin_user, django_capture_on_commit_callbacks):
    client = Client()
    url = reverse("objection-new", kwargs={"pk": listed.pk})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, _form(**SENDER), follow=True)

    html = response.content.decode()
    assert response.redirect_chain == [(f"{url}?sent=1", 302)]
    assert response.status_code == 200 and "Your message is sent" in html
    token = _tracking_token(html)
    # Reloading the sent page sends nothing again: it shows the form.
    again = client.get(f"{url}?sent=1")
    assert "Your message is sent" not in again.content.decode() and Objection.objects.count() == 1
    objection = Objection.objects.get()
    assert objection.status == ObjectionStatus.RECEIVED and objection.text == TEXT
    assert objection.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(Objection.objects.values()))  # only its digest is stored
    assert len(token) >= 43  # 32 random bytes, urlsafe

    # The sender's email carries the same link; the admins are told, with a link to triage.
    assert [m.to for m in mail.outbox if token in m.body] == [["sam.sender@example.org"]]
    note = Notification.objects.get(recipient=admin_user, key__startswith=f"objection:{objection.pk}:")
    assert note.url == reverse("objection-detail", kwargs={"pk": objection.pk})

    # Logged with the project (its history shows it), never with the sender's name or email.
    entry = ActivityEntry.objects.get(action=Action.OBJECT)
    assert entry.project_id == listed.pk
    assert "Sam Sender" not in str(entry.new) and "sam.sender" not in str(entry.new)
    assert entry.new["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()


def test_the_honeypot_answers_like_a_success_and_stores_nothing(listed, django_capture_on_commit_callbacks):
    url = reverse("objection-new", kwargs={"pk": listed.pk})
    entries = ActivityEntry.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        robot = Client().post(url, _form(website="http://spam.example", **SENDER), follow=True)

    assert robot.status_code == 200
    assert "Your message is sent" in robot.content.decode()
    _tracking_token(robot.content.decode())  # a link is shown, as to a person
    assert Objection.objects.count() == 0 and ActivityEntry.objects.count() == entries
    assert mail.outbox == [] and not Notification.objects.filter(key__startswith="objection:").exists()
    assert robot.templates[0].name == "public/objection_sent.html"


def test_the_honeypot_is_hidden_from_people_and_screen_readers(listed):
    html = Client().get(reverse("objection-new", kwargs={"pk": listed.pk})).content.decode()
    trap = re.search(r'<div class="d-none" aria-hidden="true">(.*?)</div>\s*<button', html, re.S)
    assert trap and 'name="website"' in trap.group(1)
    assert 'tabindex="-1"' in trap.group(1) and 'autocomplete="off"' in trap.group(1)
    assert "style=" not in trap.group(0)


def test_bad_input_is_named_and_nothing_is_stored(listed):
    response = Client().post(
        reverse("objection-new", kwargs={"pk": listed.pk}),
        _form(text="   ", email="not-an-address", kind="complaint"),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Write your question or objection." in html
    assert "Enter an email address such as name@example.org" in html
    assert "Choose a question or an objection." in html
    assert Objection.objects.count() == 0


def test_an_over_long_text_is_refused_in_words(listed):
    response = Client().post(reverse("objection-new", kwargs={"pk": listed.pk}), _form(text="x" * 20_001))
    assert response.status_code == 400
    assert "at most 20000 characters" in response.content.decode()
    assert Objection.objects.count() == 0


@override_settings(THROTTLE_RATES={"objection-address": (2, 3600)})
def test_sending_is_throttled_per_address(listed):
    url = reverse("objection-new", kwargs={"pk": listed.pk})
    client = Client(REMOTE_ADDR="203.0.113.50")
    assert [client.post(url, _form()).status_code for _ in range(2)] == [302, 302]

    refused = client.post(url, _form())
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many questions and objections" in refused.content.decode()
    assert Objection.objects.count() == 2
    # Another address is not affected.
    assert Client(REMOTE_ADDR="198.51.100.9").post(url, _form()).status_code == 302


def test_a_project_not_on_the_register_is_not_found(catalogue, researcher, admin_user, project):
    unlisted = listed_approved(researcher, catalogue, title="Approved but not listed", admin=admin_user)
    Project.objects.filter(pk=unlisted.pk).update(public_listing=False)
    Project.objects.filter(pk=project.pk).update(public_listing=True)  # a listed draft is not on the register
    for candidate in (unlisted, project):
        url = reverse("objection-new", kwargs={"pk": candidate.pk})
        assert Client().get(url).status_code == 404
        assert Client().post(url, _form()).status_code == 404
        assert candidate.title not in Client().get(url).content.decode()
    assert Objection.objects.count() == 0


# ---------------------------------------------------------------------------------------
# Tracking


def test_the_tracking_page_is_reached_by_the_token_only(listed):
    objection, token = send(listed, **SENDER)
    page = Client().get(reverse("objection-track", kwargs={"token": token}))
    html = page.content.decode()
    assert page.status_code == 200 and "Received" in html and TEXT in html
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"

    for wrong in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        objection.token_sha256,
        str(objection.pk),
        "x" * 200,
    ):
        assert Client().get(reverse("objection-track", kwargs={"token": wrong})).status_code == 404


def test_the_sender_sees_each_status_change_the_responses_and_the_decision(
    listed, admin_user, django_capture_on_commit_callbacks
):
    objection, token = send(listed, **SENDER)
    url = reverse("objection-track", kwargs={"token": token})
    with django_capture_on_commit_callbacks(execute=True):
        objection_acknowledge(actor=admin_user, objection=objection)
    assert "Acknowledged" in Client().get(url).content.decode()
    assert any("acknowledged" in m.subject for m in mail.outbox)

    objection_ask_researcher(actor=admin_user, objection=objection)
    response = objection_researcher_respond(actor=listed.owner, objection=objection, text="Patients consented.")
    assert "Patients consented." not in Client().get(url).content.decode()  # not published yet
    ObjectionResponse.objects.filter(pk=response.pk).update(published_at=response.created_at)
    objection_dismiss(actor=admin_user, objection=objection, reason="Consent covers synthesis.")

    html = Client().get(url).content.decode()
    assert "Patients consented." in html and "Dismissed" in html and "Consent covers synthesis." in html


# ---------------------------------------------------------------------------------------
# Triage


@pytest.mark.parametrize("name", ["objection-list", "objection-detail"])
def test_only_administrators_triage(listed, other_researcher, reviewer, admin_user, name):
    objection, _ = send(listed, **SENDER)
    url = reverse(name, kwargs={"pk": objection.pk} if name == "objection-detail" else {})
    for user in (listed.owner, other_researcher, reviewer):
        refused = _client(user).get(url)
        assert refused.status_code == 403
        assert "only administrators triage questions and objections" in refused.content.decode()
        assert "Sam Sender" not in refused.content.decode()
    assert _client().get(url).status_code == 302
    page = _client(admin_user).get(url)
    assert page.status_code == 200 and listed.title in page.content.decode()
    if name == "objection-detail":
        assert "Sam Sender" in page.content.decode() and "sam.sender@example.org" in page.content.decode()


def test_the_list_puts_open_ones_first_newest_first_and_filters_by_status(listed, admin_user):
    first, _ = send(listed)
    second, _ = send(listed)
    third, _ = send(listed)
    objection_dismiss(actor=admin_user, objection=third, reason="Out of scope.")
    client = _client(admin_user)

    listed_pks = [o.pk for o in client.get(reverse("objection-list")).context["objections"]]
    assert listed_pks == [second.pk, first.pk, third.pk]
    dismissed = client.get(reverse("objection-list"), {"status": "dismissed"}).context["objections"]
    assert [o.pk for o in dismissed] == [third.pk]
    open_ = client.get(reverse("objection-list"), {"status": "open"}).context["objections"]
    assert [o.pk for o in open_] == [second.pk, first.pk]
    # An unknown status shows everything rather than failing.
    assert client.get(reverse("objection-list"), {"status": "<script>"}).status_code == 200


def _act(client: Client, objection: Objection, action: str, **data: Any) -> Any:
    return client.post(reverse("objection-detail", kwargs={"pk": objection.pk}), {"action": action, **data})


def test_every_triage_step_is_logged_with_the_project_and_the_chain_holds(listed, admin_user):
    objection, _ = send(listed, **SENDER)
    admin = _client(admin_user)
    assert _act(admin, objection, "acknowledge").status_code == 302
    assert _act(admin, objection, "publish_text").status_code == 302
    assert _act(admin, objection, "ask").status_code == 302
    assert _act(admin, objection, "board_response", text="We asked the researcher.").status_code == 302
    objection_researcher_respond(actor=listed.owner, objection=objection, text="Consent forms cover it.")
    response = ObjectionResponse.objects.get(by=ObjectionResponse.By.RESEARCHER)
    assert _act(admin, objection, "publish_response", response=str(response.pk)).status_code == 302
    assert _act(admin, objection, "dismiss", **{"dismiss-reason": "Consent covers synthesis."}).status_code == 302

    steps = [e.new["step"] for e in ActivityEntry.objects.filter(action=Action.TRIAGE, project=listed).order_by("pk")]
    assert steps == [
        "acknowledge", "publish_text", "ask_researcher", "board_response", "researcher_response",
        "publish_response", "dismiss",
    ]  # fmt: skip
    assert list(chain_verify(ActivityEntry)) == []
    # The project's history (which the researcher reads) shows the steps, not the sender.
    history = _client(listed.owner).get(reverse("project-history", kwargs={"pk": listed.pk})).content.decode()
    assert "Objection triaged" in history and "Sam Sender" not in history and "sam.sender" not in history


def test_the_researcher_is_asked_and_only_the_owner_responds(listed, admin_user, other_researcher, reviewer):
    objection, _ = send(listed, **SENDER)
    url = reverse("objection-respond", kwargs={"pk": listed.pk, "objection_pk": objection.pk})
    owner = _client(listed.owner)
    before = owner.get(url)  # the board has not forwarded it: its text is not the researcher's to read
    assert before.status_code == 404 and TEXT not in before.content.decode()
    assert owner.post(url, {"text": "Too early."}).status_code == 404

    objection_ask_researcher(actor=admin_user, objection=objection)
    note = Notification.objects.get(recipient=listed.owner, key__startswith=f"objection-ask:{objection.pk}:")
    assert note.url == url

    page = owner.get(url).content.decode()
    assert TEXT in page and "Sam Sender" not in page and "sam.sender" not in page
    assert owner.post(url, {"text": "   "}).status_code == 400
    assert owner.post(url, {"text": "Every patient consented to synthesis."}).status_code == 302
    response = ObjectionResponse.objects.get()
    assert response.by == ObjectionResponse.By.RESEARCHER and response.published_at is None

    assert _client(admin_user).get(url).status_code == 403
    assert "only the project's researcher responds" in unescape(_client(admin_user).get(url).content.decode())
    for outsider in (other_researcher, reviewer):
        assert _client(outsider).get(url).status_code == 404
        assert _client(outsider).post(url, {"text": "Me too."}).status_code == 404
    assert ObjectionResponse.objects.count() == 1


def test_an_objection_of_another_project_is_not_found_under_the_owners(listed, catalogue, other_researcher, admin_user):
    foreign = listed_approved(other_researcher, catalogue, title="Otto's listed project", admin=admin_user)
    objection, _ = send(foreign)
    url = reverse("objection-respond", kwargs={"pk": listed.pk, "objection_pk": objection.pk})
    assert _client(listed.owner).get(url).status_code == 404


def test_uphold_with_suspension_suspends_the_approval_where_everyone_looks(listed, admin_user):
    objection, token = send(listed, **SENDER)
    admin = _client(admin_user)
    _act(admin, objection, "publish_text")
    response = _act(admin, objection, "uphold", remedy=Remedy.SUSPENSION, reason="Consent did not cover training.")
    assert response.status_code == 302

    listed.refresh_from_db()
    objection.refresh_from_db()
    assert listed.status == ProjectStatus.SUSPENDED
    assert objection.status == ObjectionStatus.UPHELD and objection.remedy == Remedy.SUSPENSION
    suspend = ActivityEntry.objects.get(action=Action.SUSPEND, project=listed)
    assert suspend.new["reason"] == f"Objection #{objection.pk} upheld: Consent did not cover training."

    project_page = _client(listed.owner).get(reverse("project-detail", kwargs={"pk": listed.pk})).content.decode()
    assert "Approval suspended" in project_page
    track = Client().get(reverse("objection-track", kwargs={"token": token})).content.decode()
    assert "Upheld" in track and "the approval is suspended" in track
    entry = Client().get(reverse("public-project", kwargs={"pk": listed.pk}))
    entry_html = entry.content.decode()
    assert entry.status_code == 200
    assert "Approval suspended" in entry_html and "Upheld" in entry_html and TEXT in entry_html
    assert "Sam Sender" not in entry_html and "sam.sender" not in entry_html


def test_uphold_with_amendment_opens_an_amendment(listed, admin_user):
    objection, _ = send(listed)
    response = _act(_client(admin_user), objection, "uphold", remedy=Remedy.AMENDMENT, reason="Add the consent form.")
    assert response.status_code == 302
    listed.refresh_from_db()
    assert listed.status == ProjectStatus.AMENDMENT
    amend = ActivityEntry.objects.get(action=Action.AMEND, project=listed)
    assert amend.new["reason"] == f"Objection #{objection.pk} upheld: Add the consent form."
    assert Notification.objects.filter(recipient=listed.owner, key__startswith=f"objection-amend:{objection.pk}:")


def test_a_remedy_the_project_cannot_take_changes_nothing(listed, admin_user):
    """An amendment needs an approved project: on a suspended one the uphold is refused whole."""
    first, _ = send(listed)
    second, _ = send(listed)
    objection_uphold(actor=admin_user, objection=first, remedy=Remedy.SUSPENSION, reason="Suspended.")
    response = _act(_client(admin_user), second, "uphold", remedy=Remedy.SUSPENSION, reason="Again.")
    assert response.status_code == 409
    assert "Only an approval that stands can be suspended" in response.content.decode()
    second.refresh_from_db()
    assert second.status == ObjectionStatus.RECEIVED and second.decided_at is None


def test_dismissing_needs_a_reason(listed, admin_user):
    objection, _ = send(listed)
    admin = _client(admin_user)
    for reason in ("", "   "):
        response = _act(admin, objection, "dismiss", **{"dismiss-reason": reason})
        assert response.status_code == 400
        assert "Give the reason: the sender and the register read it." in response.content.decode()
    refused = _act(admin, objection, "uphold", reason="Because.")
    assert refused.status_code == 400 and "Choose the remedy" in refused.content.decode()
    objection.refresh_from_db()
    assert objection.status == ObjectionStatus.RECEIVED
    assert not ActivityEntry.objects.filter(action=Action.TRIAGE).exists()


@pytest.mark.parametrize(
    "action,data",
    [
        ("acknowledge", {}),
        ("ask", {}),
        ("publish_text", {}),
        ("board_response", {"text": "Late words."}),
        ("uphold", {"remedy": "suspension", "reason": "Changed my mind."}),
        ("dismiss", {"dismiss-reason": "Twice."}),
    ],
    ids=["acknowledge", "ask", "publish_text", "board_response", "uphold", "dismiss"],
)
def test_a_closed_objection_refuses_changes(listed, admin_user, action, data):
    objection, _ = send(listed)
    objection_dismiss(actor=admin_user, objection=objection, reason="Out of scope.")
    entries = ActivityEntry.objects.count()
    response = _act(_client(admin_user), objection, action, **data)
    assert response.status_code == 409
    assert "a decided objection does not change" in response.content.decode()
    objection.refresh_from_db()
    listed.refresh_from_db()
    assert objection.status == ObjectionStatus.DISMISSED and objection.decision_reason == "Out of scope."
    assert listed.status == ProjectStatus.APPROVED and ActivityEntry.objects.count() == entries
    assert ObjectionResponse.objects.count() == 0 and not objection.publish_text


def test_the_service_refuses_a_closed_objection_too(listed, admin_user):
    objection, _ = send(listed)
    objection_dismiss(actor=admin_user, objection=objection, reason="Out of scope.")
    with pytest.raises(ObjectionClosed):
        objection_uphold(actor=admin_user, objection=objection, remedy=Remedy.AMENDMENT, reason="No.")
    with pytest.raises(TransitionConflict):
        objection_acknowledge(actor=admin_user, objection=objection)


def test_an_unknown_action_is_refused_in_words(listed, admin_user):
    objection, _ = send(listed)
    response = _act(_client(admin_user), objection, "delete")
    assert response.status_code == 400 and "Unknown action" in response.content.decode()
    bad = _act(_client(admin_user), objection, "publish_response", response="not-a-number")
    assert bad.status_code == 400 and "Choose a response to publish." in bad.content.decode()


# ---------------------------------------------------------------------------------------
# Reinstating a suspended approval


def test_an_administrator_reinstates_a_suspended_approval(listed, admin_user, other_researcher):
    objection, _ = send(listed)
    objection_uphold(actor=admin_user, objection=objection, remedy=Remedy.SUSPENSION, reason="Consent unclear.")
    url = reverse("project-reinstate", kwargs={"pk": listed.pk})
    back = reverse("objection-detail", kwargs={"pk": objection.pk})

    refused = _client(listed.owner).post(url, {"reinstate-reason": "Please.", "next": back})
    assert refused.status_code == 403 and "only administrators reinstate" in refused.content.decode()
    assert _client(other_researcher).post(url, {"reinstate-reason": "x"}).status_code == 404
    no_reason = _client(admin_user).post(url, {"reinstate-reason": " ", "next": back})
    assert no_reason.status_code == 302
    listed.refresh_from_db()
    assert listed.status == ProjectStatus.SUSPENDED

    done = _client(admin_user).post(url, {"reinstate-reason": "The consent form was found.", "next": back})
    assert done.status_code == 302 and done["Location"] == back
    listed.refresh_from_db()
    assert listed.status == ProjectStatus.APPROVED
    entry = ActivityEntry.objects.get(action=Action.REINSTATE, project=listed)
    assert entry.new["reason"] == "The consent form was found."
    # Nothing left to reinstate: said, not done twice.
    again = _client(admin_user).post(url, {"reinstate-reason": "Again."})
    assert again.status_code == 403 and "no suspension to lift" in again.content.decode()


def test_the_project_page_offers_each_their_way_out_of_a_suspension(listed, admin_user):
    objection, _ = send(listed)
    objection_uphold(actor=admin_user, objection=objection, remedy=Remedy.SUSPENSION, reason="Consent unclear.")
    overview = reverse("project-detail", kwargs={"pk": listed.pk})
    owner_page = _client(listed.owner).get(overview).content.decode()
    assert "Answer the suspension with an amendment" in owner_page and "Reinstate the approval" not in owner_page
    admin_page = _client(admin_user).get(overview).content.decode()
    assert "Reinstate the approval" in admin_page and 'name="reinstate-reason"' in admin_page
    assert "Answer the suspension" not in admin_page
    _client(admin_user).post(reverse("project-reinstate", kwargs={"pk": listed.pk}), {"reinstate-reason": "Found."})
    assert "Reinstate the approval" not in _client(admin_user).get(overview).content.decode()
    assert "Amend the approved project" in _client(listed.owner).get(overview).content.decode()


def test_the_owner_may_amend_a_suspended_project(listed, admin_user):
    objection, _ = send(listed)
    objection_uphold(actor=admin_user, objection=objection, remedy=Remedy.SUSPENSION, reason="Consent unclear.")
    listed.refresh_from_db()
    assert listed.owner.has_perm("reviews.amend_project", listed)
    response = _client(listed.owner).post(
        reverse("project-amend", kwargs={"pk": listed.pk}), {"reason": "Adding the consent form."}
    )
    assert response.status_code == 302
    listed.refresh_from_db()
    assert listed.status == ProjectStatus.AMENDMENT
    # The overview no longer says the approval stands: the amendment answers the suspension.
    overview = _client(listed.owner).get(reverse("project-detail", kwargs={"pk": listed.pk})).content.decode()
    assert "suspended</span> since" in overview and "Consent unclear." in overview
    assert "the approval stands while the amendment" not in overview


# ---------------------------------------------------------------------------------------
# Query counts


def _list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("objection-list")).status_code == 200
    return len(queries)


def test_the_triage_list_and_the_register_section_cost_the_same_for_one_or_many(
    listed, admin_user, django_assert_num_queries
):
    admin = _client(admin_user)
    first, _ = send(listed)
    objection_dismiss(actor=admin_user, objection=first, reason="Out of scope.")
    one = _list_queries(admin)
    # Session, user, unread notifications, the status counts, the page's count and its rows.
    assert one == 6
    for _ in range(6):
        objection, _ = send(listed)
        objection_ask_researcher(actor=admin_user, objection=objection)
        objection_researcher_respond(actor=listed.owner, objection=objection, text="Answered.")
    assert _list_queries(admin) == one, "the list costs more queries with more objections"

    with django_assert_num_queries(2):  # the objections, and their published responses
        shown = register_objections(listed.pk)
        assert len(shown) == 7 and all(o.published_responses == [] for o in shown)


# ---------------------------------------------------------------------------------------
# Hostile input

SCRIPT = "<script>alert('objection')</script>"


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"text": "before\x00after"}, "Null characters are not allowed."),
        ({"name": "n" * 201}, "at most 200 characters"),
        ({"name": "Sam\x00"}, "Null characters are not allowed."),
        ({"email": "sam@example.org\x00"}, "Enter an email address"),
        ({"email": "e" * 300 + "@example.org"}, "at most 254 characters"),
        ({"kind": SCRIPT}, "Choose a question or an objection."),
    ],
    ids=["nul-text", "long-name", "nul-name", "nul-email", "long-email", "script-kind"],
)
def test_hostile_values_are_refused_in_words_and_kept(listed, changes, message):
    response = Client().post(reverse("objection-new", kwargs={"pk": listed.pk}), _form(**changes))
    page = unescape(response.content.decode())
    assert response.status_code == 400 and message in page
    assert (TEXT if "text" not in changes else "before") in page  # what was typed is still there
    assert SCRIPT not in response.content.decode()
    assert Objection.objects.count() == 0


def test_hostile_text_is_stored_as_typed_and_shown_escaped(listed, admin_user):
    objection, token = send(listed)
    Objection.objects.filter(pk=objection.pk).update(text=SCRIPT, publish_text=True)
    for url, client in (
        (reverse("objection-track", kwargs={"token": token}), Client()),
        (reverse("objection-detail", kwargs={"pk": objection.pk}), _client(admin_user)),
        (reverse("public-project", kwargs={"pk": listed.pk}), Client()),
    ):
        html = client.get(url).content.decode()
        assert SCRIPT not in html and "&lt;script&gt;alert(" in html, url


def test_the_triage_list_shows_a_response_waiting_for_the_board(listed, admin_user):
    objection, _ = send(listed)
    objection_ask_researcher(actor=admin_user, objection=objection)
    url = reverse("objection-list")
    assert "Researcher responded" not in _client(admin_user).get(url).content.decode()
    objection.refresh_from_db()
    response = objection_researcher_respond(actor=listed.owner, objection=objection, text="We checked the consent.")
    assert "Researcher responded: publish or answer" in _client(admin_user).get(url).content.decode()
    objection_response_publish(actor=admin_user, objection=objection, response_pk=response.pk)
    assert "Researcher responded" not in _client(admin_user).get(url).content.decode()
