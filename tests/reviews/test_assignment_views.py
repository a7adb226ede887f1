"""The assignment pages, the reviewer's invitation and conflicts, and the reviewer's dashboard.

Each test drives the pages as the person would and checks what they would notice: the rows,
the messages, the state that follows, and what must not show to anyone else.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviews.enums import AssignmentStatus, ExpertiseKind, Modality, NotificationKind, ProjectStatus, SynthesisTask
from reviews.models import Assignment, Notification, Project, User
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.decisions import project_withdraw
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory
from tests.workflow import review, submitted

EVIDENCE = "Documented in the protocol, section 3."
SUMMARY = "A diffusion model generates chest radiographs for augmentation."


def login(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.fixture
def under_review(project):
    """The researcher's project, submitted (round 1 frozen, every item answered)."""
    submitted(project)
    project.refresh_from_db()
    return project


@pytest.fixture
def people(db, admin_user):
    return {
        "technical": ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL),
        "clinical": ReviewerFactory(full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL),
        "ethics": ReviewerFactory(full_name="Edna Ethics", expertise=ExpertiseKind.ETHICS, affiliation="Ethics Board"),
        "outsider": ReviewerFactory(full_name="Olga Outsider", expertise=ExpertiseKind.TECHNICAL),
    }


def list_url(project: Project) -> str:
    return reverse("assignment-list", kwargs={"pk": project.pk})


def invitation_url(project: Project) -> str:
    return reverse("assignment-respond", kwargs={"pk": project.pk})


# ---- the admin's assignment page -----------------------------------------------------------


def test_admin_sees_each_assignment_with_its_response_and_the_declared_conflict(
    under_review, admin_user, people, researcher
):
    technical, clinical, ethics = people["technical"], people["clinical"], people["ethics"]
    for reviewer in (technical, clinical, ethics):
        assignment_create(actor=admin_user, project=under_review, reviewer=reviewer)
    assignment_respond(
        actor=technical, project=under_review, accept=True, conflict_statement="I co-authored with the researcher."
    )
    assignment_respond(actor=ethics, project=under_review, accept=False, decline_reason="On leave until June.")

    response = login(admin_user).get(list_url(under_review))

    html = page(response)
    assert response.status_code == 200
    assert "1 reviewer declared a conflict of interest and cannot sign" in html
    assert "I co-authored with the researcher." in html
    assert 'class="table-danger" id="assignment-' in html  # the conflicted row stands out
    assert "No response yet." in html  # the clinical reviewer, still invited
    assert "Declined: On leave until June." in html
    assert html.count("> Remove</button>") == 2  # the two active assignments, not the declined one
    # Each reason field is folded behind "Remove…" (a <details>, no JS needed), open only on the
    # conflicted row, whose removal the page asks for.
    assert html.count('<details class="remove-assignment">') == 1
    assert html.count('<details class="remove-assignment" open>') == 1
    conflicted_row = html.split('class="table-danger" id="assignment-')[1].split("</tr>")[0]
    assert '<details class="remove-assignment" open>' in conflicted_row
    # The declined reviewer is suggested again; the two active ones show as assigned.
    assert f'id="suggestion-{ethics.pk}"' in html
    assert html.count('<span class="badge text-bg-success">Assigned</span>') == 2
    assert researcher.display_name not in html.split("Suggested reviewers")[1]


def test_suggestions_put_needed_expertise_then_matching_history_then_light_load_first(
    under_review, admin_user, catalogue
):
    technical = ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    assignment_create(actor=admin_user, project=under_review, reviewer=technical)
    # Three non-technical reviewers: one has reviewed chest X-ray augmentation before, one is
    # busy with an open review elsewhere, one is free. A second technical reviewer is not needed.
    experienced = ReviewerFactory(full_name="Xena Xray", expertise=ExpertiseKind.CLINICAL)
    busy = ReviewerFactory(full_name="Bob Busy", expertise=ExpertiseKind.ETHICS)
    free = ReviewerFactory(full_name="Fay Free", expertise=ExpertiseKind.CLINICAL)
    spare_technical = ReviewerFactory(full_name="Sam Spare", expertise=ExpertiseKind.TECHNICAL)
    earlier = ProjectFactory(guideline_version=catalogue, modalities=[Modality.XRAY])
    submitted(earlier)
    assignment_create(actor=admin_user, project=earlier, reviewer=experienced)
    assignment_respond(actor=experienced, project=earlier, accept=True)
    project_withdraw(actor=earlier.owner, project=earlier, reason="Stopped.")  # no longer an open load
    elsewhere = ProjectFactory(
        guideline_version=catalogue, modalities=[Modality.MR], synthesis_task=SynthesisTask.SUPER_RESOLUTION
    )
    submitted(elsewhere)
    assignment_create(actor=admin_user, project=elsewhere, reviewer=busy)

    html = page(login(admin_user).get(list_url(under_review)))

    suggestions = html.split("Suggested reviewers")[1]
    order = [suggestions.index(f'id="suggestion-{user.pk}"') for user in (experienced, free, busy, spare_technical)]
    assert order == sorted(order)
    assert suggestions.index(f'id="suggestion-{technical.pk}"') > order[-1]  # already assigned: last
    assert "clinical expertise still needed" in suggestions
    assert "has reviewed XR" in suggestions
    assert "has reviewed data augmentation" in suggestions


def test_admin_assigns_a_suggested_reviewer_with_a_due_date_and_the_reviewer_is_told(under_review, admin_user, people):
    clinical = people["clinical"]
    client = login(admin_user)
    default_due = timezone.localdate() + timedelta(days=21)
    assert f'value="{default_due:%Y-%m-%d}"' in page(client.get(list_url(under_review)))
    due = timezone.localdate() + timedelta(days=10)

    response = client.post(list_url(under_review), {"reviewer": clinical.pk, "due_date": due.isoformat()}, follow=True)

    assignment = Assignment.objects.get(project=under_review, reviewer=clinical)
    assert (assignment.status, assignment.due_date, assignment.assigned_by) == (
        AssignmentStatus.INVITED,
        due,
        admin_user,
    )
    assert f"Carl Clinical is invited to review, due {due:%d %B %Y}" in page(response)
    note = Notification.objects.get(recipient=clinical)
    assert note.kind == NotificationKind.ASSIGNED and note.url == invitation_url(under_review)


def test_a_researcher_is_never_assigned_to_their_own_project_even_when_their_id_is_posted(
    under_review, admin_user, researcher, people
):
    due = (timezone.localdate() + timedelta(days=5)).isoformat()
    client = login(admin_user)

    response = client.post(list_url(under_review), {"reviewer": researcher.pk, "due_date": due})

    assert response.status_code == 400
    assert "Reviewer: this person cannot be assigned to this project" in page(response)
    assert not Assignment.objects.filter(project=under_review).exists()

    # A reviewer account that owns a project (its role changed later) is not offered for it either.
    owner_reviewer = ReviewerFactory(full_name="Ria Reviewer-Owner")
    own = ProjectFactory(owner=owner_reviewer, guideline_version=under_review.guideline_version)
    Project.objects.filter(pk=own.pk).update(status=ProjectStatus.SUBMITTED)
    html = page(client.get(list_url(own)))
    assert f'id="suggestion-{owner_reviewer.pk}"' not in html
    response = client.post(list_url(own), {"reviewer": owner_reviewer.pk, "due_date": due})
    assert response.status_code == 400
    assert not Assignment.objects.filter(project=own).exists()


def test_a_bad_due_date_is_refused_naming_the_field_and_keeps_what_was_typed(under_review, admin_user, people):
    clinical = people["clinical"]
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    client = login(admin_user)

    response = client.post(list_url(under_review), {"reviewer": clinical.pk, "due_date": yesterday})
    assert response.status_code == 400
    assert "Due date: The due date is in the past." in page(response)
    assert f'value="{yesterday}"' in page(response)

    response = client.post(list_url(under_review), {"reviewer": clinical.pk, "due_date": "31/02/2030"})
    assert response.status_code == 400
    assert "Due date: Enter the due date as YYYY-MM-DD." in page(response)
    assert 'value="31/02/2030"' in page(response)
    assert not Assignment.objects.exists()


def test_assigning_twice_gives_one_assignment_and_a_clear_conflict(under_review, admin_user, people):
    clinical = people["clinical"]
    data = {"reviewer": clinical.pk, "due_date": (timezone.localdate() + timedelta(days=9)).isoformat()}
    client = login(admin_user)
    client.post(list_url(under_review), data)

    response = client.post(list_url(under_review), data)  # a double click, or a stale page

    assert response.status_code == 409
    assert "Carl Clinical is already assigned to this project." in page(response)
    assert Assignment.objects.filter(project=under_review, reviewer=clinical).count() == 1
    assert Notification.objects.filter(recipient=clinical).count() == 1


@pytest.mark.parametrize(
    "hostile",
    [
        {"reviewer": "abc", "due_date": "2030-01-01"},
        {"reviewer": "99999999999999999999999", "due_date": "2030-01-01"},
        {"reviewer": "-1", "due_date": "9999-99-99"},
        {"reviewer": "", "due_date": "x" * 5000},
        {},
    ],
)
def test_hostile_assignment_posts_are_refused_without_a_server_error(under_review, admin_user, people, hostile):
    response = login(admin_user).post(list_url(under_review), hostile)
    assert response.status_code == 400
    assert not Assignment.objects.exists()


def test_who_may_open_the_assignment_page(under_review, admin_user, researcher, other_researcher, people):
    technical, clinical, outsider = people["technical"], people["clinical"], people["outsider"]
    assignment_create(actor=admin_user, project=under_review, reviewer=technical)
    assignment_respond(actor=technical, project=under_review, accept=True)
    assignment_create(actor=admin_user, project=under_review, reviewer=clinical)
    url = list_url(under_review)
    data = {"reviewer": outsider.pk, "due_date": (timezone.localdate() + timedelta(days=9)).isoformat()}

    expected = {
        admin_user: 200,
        researcher: 403,  # the owner sees the project, not its reviewer management
        technical: 403,  # accepted: sees the project, may not assign
        clinical: 404,  # invited only: the project itself is not visible yet
        outsider: 404,
        other_researcher: 404,
    }
    for user, status in expected.items():
        response = login(user).get(url)
        assert response.status_code == status, user
        if status == 404:
            assert under_review.title not in page(response)
    for user, status in expected.items():
        if user != admin_user:
            assert login(user).post(url, data).status_code == status, user
    assert not Assignment.objects.filter(reviewer=outsider).exists()
    anonymous = login(None).get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_no_assignment_page_for_a_draft_project(project, admin_user):
    response = login(admin_user).get(list_url(project))
    assert response.status_code == 403
    assert "once the project is submitted" in page(response)


def test_admin_removes_a_conflicted_reviewer_with_a_reason_and_can_reassign(under_review, admin_user, people):
    technical, outsider = people["technical"], people["outsider"]
    assignment = assignment_create(actor=admin_user, project=under_review, reviewer=technical)
    assignment_respond(actor=technical, project=under_review, accept=True, conflict_statement="My former student.")
    client = login(admin_user)
    remove_url = reverse("assignment-remove", kwargs={"pk": under_review.pk, "assignment_pk": assignment.pk})

    response = client.post(remove_url, {"reason": "   "})
    assert response.status_code == 400
    assert "Say why the reviewer is removed." in page(response)
    row = page(response).split(f'id="assignment-{assignment.pk}"')[1].split("</tr>")[0]
    assert '<details class="remove-assignment" open>' in row  # the error is not folded away
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.ACCEPTED

    response = client.post(remove_url, {"reason": "Declared a conflict of interest."}, follow=True)
    assert "Tess Technical was removed from this project." in page(response)
    assignment.refresh_from_db()
    assert (assignment.status, assignment.removed_reason) == (
        AssignmentStatus.REMOVED,
        "Declared a conflict of interest.",
    )
    assert "Removed: Declared a conflict of interest." in page(response)
    assert "declared a conflict of interest and cannot sign" not in page(response)  # no longer active

    # Removing again (a stale page) is a clear conflict, not an error page.
    response = client.post(remove_url, {"reason": "Again."}, follow=True)
    assert "assignment is already removed" in page(response)

    due = (timezone.localdate() + timedelta(days=14)).isoformat()
    client.post(list_url(under_review), {"reviewer": outsider.pk, "due_date": due})
    assert Assignment.objects.get(project=under_review, reviewer=outsider).status == AssignmentStatus.INVITED


def test_an_assignment_of_another_project_cannot_be_removed_through_this_one(
    under_review, admin_user, people, catalogue
):
    other = ProjectFactory(guideline_version=catalogue)
    submitted(other)
    foreign = assignment_create(actor=admin_user, project=other, reviewer=people["clinical"])
    url = reverse("assignment-remove", kwargs={"pk": under_review.pk, "assignment_pk": foreign.pk})

    assert login(admin_user).post(url, {"reason": "Smuggled."}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == AssignmentStatus.INVITED


def test_only_an_admin_removes(under_review, admin_user, researcher, people):
    technical = people["technical"]
    assignment = assignment_create(actor=admin_user, project=under_review, reviewer=technical)
    assignment_respond(actor=technical, project=under_review, accept=True)
    url = reverse("assignment-remove", kwargs={"pk": under_review.pk, "assignment_pk": assignment.pk})
    assert login(researcher).post(url, {"reason": "x"}).status_code == 403
    assert login(technical).post(url, {"reason": "x"}).status_code == 403
    assert login(people["outsider"]).post(url, {"reason": "x"}).status_code == 404
    assert login(admin_user).get(url).status_code == 405
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.ACCEPTED


# ---- the invitation ----------------------------------------------------------------------------


@pytest.fixture
def invited(under_review, admin_user, people):
    assignment_create(actor=admin_user, project=under_review, reviewer=people["clinical"])
    return people["clinical"]


def test_the_invitation_shows_the_project_in_brief_and_none_of_its_material(under_review, invited, researcher):
    client = login(invited)
    response = client.get(invitation_url(under_review))

    html = page(response)
    assert response.status_code == 200
    for shown in (under_review.title, SUMMARY, researcher.display_name, "Example University", "X-ray (CR/DX)"):
        assert shown in html
    assert "Data augmentation" in html
    due = Assignment.objects.get(reviewer=invited).due_date
    assert f"{due:%-d %B %Y}" in html
    assert EVIDENCE not in html and "Intended use" not in html
    assert "Accept the review" in html and "Decline" in html
    # The material itself stays closed until they accept.
    # The project's own page sends them back to the invitation, with no byte of the project.
    response = client.get(under_review.get_absolute_url())
    assert response.status_code == 302 and response["Location"] == reverse("assignment-respond", args=[under_review.pk])
    assert response.content == b""
    assert client.get(reverse("round-detail", kwargs={"pk": under_review.pk, "number": 1})).status_code == 404


def test_accepting_without_a_conflict_opens_the_project(under_review, invited, admin_user):
    client = login(invited)

    response = client.post(invitation_url(under_review), {"decision": "accept", "conflict": "none"})

    assert response.status_code == 302 and response["Location"] == under_review.get_absolute_url()
    assignment = Assignment.objects.get(reviewer=invited)
    assert assignment.status == AssignmentStatus.ACCEPTED and not assignment.has_conflict
    under_review.refresh_from_db()
    assert under_review.status == ProjectStatus.IN_REVIEW
    assert client.get(under_review.get_absolute_url()).status_code == 200
    html = page(client.get(invitation_url(under_review)))
    assert "You accepted this review on" in html and "You declared no conflict of interest." in html
    assert "Accept the review" not in html
    assert "Declare a conflict of interest" in html
    assert Notification.objects.filter(recipient=admin_user, kind=NotificationKind.RESPONDED).count() == 1

    again = client.post(invitation_url(under_review), {"decision": "accept", "conflict": "none"}, follow=True)
    assert "You already accepted this invitation." in page(again)


def test_accepting_with_a_conflict_blocks_signing_and_tells_the_admin(under_review, invited, admin_user):
    client = login(invited)
    data = {"decision": "accept", "conflict": "declare", "conflict_statement": "I advise the company funding it."}

    response = client.post(invitation_url(under_review), data, follow=True)

    assert "You accepted and declared a conflict of interest." in page(response)
    assignment = Assignment.objects.get(reviewer=invited)
    assert assignment.has_conflict and assignment.conflict_statement == "I advise the company funding it."
    assert not invited.has_perm("reviews.review_project", under_review)
    note = Notification.objects.get(recipient=admin_user, kind=NotificationKind.CONFLICT)
    assert "I advise the company funding it." in note.body
    assert "I advise the company funding it." in page(login(admin_user).get(list_url(under_review)))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"decision": "accept"}, "Say whether you have a conflict of interest."),
        ({"decision": "accept", "conflict": "declare"}, "Describe the conflict of interest you declare."),
        ({"decision": "accept", "conflict": "none", "conflict_statement": "My co-author."}, "You chose “no conflict”"),
        ({"decision": "accept", "conflict": "maybe"}, "Select a valid choice."),
        ({"decision": "accept", "conflict": "declare", "conflict_statement": "x" * 5001}, "at most 5000 characters"),
        ({"decision": "perhaps"}, "Choose “Accept” or “Decline”."),
    ],
)
def test_an_incomplete_answer_is_refused_with_the_reason_and_nothing_changes(under_review, invited, data, error):
    response = login(invited).post(invitation_url(under_review), data)
    assert response.status_code == 400
    assert error in page(response)
    assert Assignment.objects.get(reviewer=invited).status == AssignmentStatus.INVITED
    if data.get("conflict_statement") == "My co-author.":
        assert "My co-author." in page(response)  # what was typed is kept


def test_declining_closes_the_invitation_and_the_project_stays_hidden(under_review, invited, admin_user):
    client = login(invited)

    response = client.post(invitation_url(under_review), {"decision": "decline", "decline_reason": "Too busy."})

    assert response.status_code == 302 and response["Location"] == reverse("my-reviews")
    assignment = Assignment.objects.get(reviewer=invited)
    assert (assignment.status, assignment.decline_reason) == (AssignmentStatus.DECLINED, "Too busy.")
    html = page(client.get(invitation_url(under_review)))
    assert "You declined this invitation on" in html and "Too busy." in html
    assert SUMMARY not in html  # the brief is no longer theirs to read
    assert client.get(under_review.get_absolute_url()).status_code == 404
    again = client.post(invitation_url(under_review), {"decision": "accept", "conflict": "none"}, follow=True)
    assert "You already declined this invitation." in page(again)
    assert Assignment.objects.get(reviewer=invited).status == AssignmentStatus.DECLINED


@pytest.mark.parametrize(
    "answer",
    [
        {"decision": "accept", "conflict": "none"},
        {"decision": "accept", "conflict": "declare", "conflict_statement": "I advise the company funding it."},
        {"decision": "decline", "decline_reason": "Too busy."},
    ],
    ids=["accept", "accept-with-conflict", "decline"],
)
def test_answering_the_invitation_marks_its_notification_read(
    under_review, invited, admin_user, people, catalogue, answer
):
    """The "assigned" notification asked for an answer; once answered, it no longer shows as new.
    Other notifications of the reviewer (another kind, another project) and the other invited
    reviewer's stay unread."""
    invitation = Notification.objects.get(recipient=invited, kind=NotificationKind.ASSIGNED, project=under_review)
    other_project = ProjectFactory(guideline_version=catalogue, title="Another project to review")
    submitted(other_project)
    assignment_create(actor=admin_user, project=other_project, reviewer=invited)
    elsewhere = Notification.objects.get(recipient=invited, kind=NotificationKind.ASSIGNED, project=other_project)
    assignment_create(actor=admin_user, project=under_review, reviewer=people["technical"])
    theirs = Notification.objects.get(recipient=people["technical"], kind=NotificationKind.ASSIGNED)
    other_kind = Notification.objects.create(
        key="test:due-soon", recipient=invited, kind=NotificationKind.DUE_SOON, project=under_review, subject="Due"
    )
    client = login(invited)
    assert 'id="unread-count">3<' in page(client.get(reverse("my-reviews")))  # before answering

    response = client.post(invitation_url(under_review), answer)

    assert response.status_code == 302
    assert Assignment.objects.get(reviewer=invited, project=under_review).status != AssignmentStatus.INVITED
    invitation.refresh_from_db()
    assert invitation.read_at is not None
    for untouched in (elsewhere, theirs, other_kind):
        untouched.refresh_from_db()
        assert untouched.read_at is None, untouched.subject
    assert 'id="unread-count">2<' in page(client.get(reverse("my-reviews")))  # the other invitation, the reminder


def test_a_refused_answer_leaves_the_invitation_unread(under_review, invited):
    response = login(invited).post(invitation_url(under_review), {"decision": "accept"})

    assert response.status_code == 400
    assert Notification.objects.get(recipient=invited, kind=NotificationKind.ASSIGNED).read_at is None


def test_a_withdrawn_invitation_says_so(under_review, invited, admin_user):
    from reviews.services.assignments import assignment_remove

    assignment_remove(actor=admin_user, assignment=Assignment.objects.get(reviewer=invited), reason="Reassigned.")
    client = login(invited)
    html = page(client.get(invitation_url(under_review)))
    assert "An administrator withdrew this invitation." in html and SUMMARY not in html
    response = client.post(invitation_url(under_review), {"decision": "accept", "conflict": "none"}, follow=True)
    assert "An administrator withdrew this invitation. Nothing was changed." in page(response)


def test_nobody_else_sees_the_invitation(under_review, invited, admin_user, researcher, other_researcher, people):
    url = invitation_url(under_review)
    for user in (admin_user, researcher, other_researcher, people["outsider"]):
        response = login(user).get(url)
        assert response.status_code == 404, user
        assert under_review.title not in page(response)
        assert login(user).post(url, {"decision": "accept", "conflict": "none"}).status_code == 404
    assert login(None).get(url).status_code == 302
    assert login(invited).get(reverse("assignment-respond", kwargs={"pk": 999999})).status_code == 404


# ---- a conflict found later ----------------------------------------------------------------------


def test_an_accepted_reviewer_declares_a_conflict_found_later(under_review, invited, admin_user):
    assignment_respond(actor=invited, project=under_review, accept=True)
    client = login(invited)
    url = reverse("conflict-declare", kwargs={"pk": under_review.pk})

    empty = client.post(url, {"statement": "  "})
    assert empty.status_code == 400 and "Describe the conflict of interest." in page(empty)

    response = client.post(url, {"statement": "My spouse joined the lab."}, follow=True)

    assert "Your conflict of interest is recorded." in page(response)
    assert "Conflict of interest declared" in page(response)
    assignment = Assignment.objects.get(reviewer=invited)
    assert assignment.has_conflict and assignment.conflict_statement == "My spouse joined the lab."
    assert not invited.has_perm("reviews.review_project", under_review)
    assert "My spouse joined the lab." in page(login(admin_user).get(list_url(under_review)))
    assert Notification.objects.filter(recipient=admin_user, kind=NotificationKind.CONFLICT).count() == 1

    twice = client.post(url, {"statement": "Again."}, follow=True)
    assert "You have already declared a conflict on this project." in page(twice)
    assert Notification.objects.filter(recipient=admin_user, kind=NotificationKind.CONFLICT).count() == 1


def test_only_the_assigned_reviewer_declares_a_conflict(under_review, invited, admin_user, researcher, people):
    url = reverse("conflict-declare", kwargs={"pk": under_review.pk})
    data = {"statement": "Not mine to declare."}
    assert login(invited).post(url, data).status_code == 404  # invited only: accept first, declaring there
    assert login(admin_user).post(url, data).status_code == 403
    assert login(researcher).post(url, data).status_code == 403
    assert login(people["outsider"]).post(url, data).status_code == 404
    assert login(None).post(url, data).status_code == 302
    assert not Assignment.objects.filter(has_conflict=True).exists()
    assert login(invited).get(url).status_code == 405


# ---- the reviewer's dashboard ------------------------------------------------------------------


def test_my_reviews_lists_invitations_current_reviews_and_finished_ones(admin_user, catalogue):
    reviewer = ReviewerFactory(full_name="Mia Many")
    other = ReviewerFactory(full_name="Nico Nosy")
    projects = {}
    for name in ("Invited CT study", "Accepted MR study", "Overdue PET study", "Declined US study", "Withdrawn study"):
        projects[name] = ProjectFactory(guideline_version=catalogue, title=name)
        submitted(projects[name])
        assignment_create(actor=admin_user, project=projects[name], reviewer=reviewer)
    assignment_create(actor=admin_user, project=projects["Invited CT study"], reviewer=other)
    for name in ("Accepted MR study", "Overdue PET study", "Withdrawn study"):
        assignment_respond(actor=reviewer, project=projects[name], accept=True)
    assignment_respond(actor=reviewer, project=projects["Declined US study"], accept=False)
    Assignment.objects.filter(reviewer=reviewer, project=projects["Overdue PET study"]).update(
        due_date=timezone.localdate() - timedelta(days=2)
    )
    round_ = projects["Accepted MR study"].rounds.get()
    review(round_, reviewer)
    withdrawn = projects["Withdrawn study"]
    project_withdraw(actor=withdrawn.owner, project=withdrawn, reason="Funding ended.")

    response = login(reviewer).get(reverse("my-reviews"))

    html = page(response)
    invitations, rest = html.split('id="current-heading"')
    current, finished = rest.split('id="finished-heading"')
    assert "Invited CT study" in invitations and invitation_url(projects["Invited CT study"]) in invitations
    assert "Accepted MR study" in current and "Overdue PET study" in current
    assert "submitted" in current.split("Accepted MR study")[1].split("</tr>")[0]
    overdue_row = current.split("Overdue PET study")[1].split("</tr>")[0]
    assert "overdue" in overdue_row and "not started" in overdue_row
    assert reverse("round-review", kwargs={"pk": projects["Overdue PET study"].pk, "number": 1}) in overdue_row
    assert "Declined US study" in finished and "Withdrawn study" in finished
    assert "Declined US study" not in current and "Withdrawn study" not in current
    # Only their own assignments.
    assert "Nico" not in html
    assert "Invited CT study" not in page(login(other).get(reverse("my-reviews"))).split('id="current-heading"')[1]


@pytest.mark.parametrize("count", [1, 6])
def test_my_reviews_runs_a_fixed_number_of_queries(admin_user, catalogue, django_assert_num_queries, count):
    reviewer = ReviewerFactory()
    for n in range(count):
        project = ProjectFactory(guideline_version=catalogue, title=f"Study {n}")
        Project.objects.filter(pk=project.pk).update(status=ProjectStatus.SUBMITTED)
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
        if n % 2:
            assignment_respond(actor=reviewer, project=project, accept=True)
    client = login(reviewer)
    # session, user, the assignments with their latest round, review, draft and signature, the
    # rounds they signed (issue 10: listed once finished), and the unread count of the navigation bar.
    with django_assert_num_queries(5):
        response = client.get(reverse("my-reviews"))
    assert page(response).count("Study ") == count


@pytest.mark.parametrize("count", [1, 5])
def test_the_assignment_page_runs_a_fixed_number_of_queries(under_review, admin_user, django_assert_num_queries, count):
    for _ in range(count):
        assignment_create(actor=admin_user, project=under_review, reviewer=ReviewerFactory())
        ReviewerFactory()  # and one more suggestion
    client = login(admin_user)
    # session, user, project, policy, the suggestions (reviewers with their load, and history),
    # the assignments, and the unread count of the navigation bar.
    with django_assert_num_queries(8):
        response = client.get(list_url(under_review))
    assert page(response).count("> Remove</button>") == count


def test_my_reviews_is_empty_for_a_researcher_and_needs_a_login(researcher, under_review, invited):
    html = page(login(researcher).get(reverse("my-reviews")))
    assert "No open invitations." in html and under_review.title not in html
    assert login(None).get(reverse("my-reviews")).status_code == 302


def test_the_navigation_offers_my_reviews_to_reviewers_only(researcher, admin_user, people):
    link = f'href="{reverse("my-reviews")}"'
    assert link in page(login(people["clinical"]).get(reverse("project-list")))
    for user in (researcher, admin_user):
        assert link not in page(login(user).get(reverse("project-list")))
    assert link not in page(login(None).get(reverse("home")))


def test_an_invited_reviewer_who_became_inactive_sees_nothing(under_review, invited):
    User.objects.filter(pk=invited.pk).update(is_active=False)
    invited.refresh_from_db()
    client = Client()
    client.force_login(invited)
    response = client.get(invitation_url(under_review))
    assert response.status_code in {302, 404}
    assert under_review.title not in page(response)


def test_the_admin_role_assigns_without_the_superuser_flag(under_review, people):
    second = AdminFactory(full_name="Abe Admin", is_superuser=False, is_staff=False)
    due = (timezone.localdate() + timedelta(days=7)).isoformat()
    client = login(second)
    assert client.get(list_url(under_review)).status_code == 200
    client.post(list_url(under_review), {"reviewer": people["ethics"].pk, "due_date": due})
    assert Assignment.objects.get(project=under_review).assigned_by == second
    assert login(ResearcherFactory()).get(list_url(under_review)).status_code == 404
