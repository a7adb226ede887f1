"""The reviewer's pages (round review, waivers, signing), the round page, the diff between rounds
and the researcher's view of the feedback, through the views as each role would use them.

Roles on one submitted project: the owner, another researcher, an accepted reviewer
(technical), a second accepted reviewer (clinical), an accepted reviewer who declared a
conflict, an invited reviewer who has not answered, an unassigned reviewer, an admin and
an anonymous visitor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.selectors import AUDITS, current_input_digest
from reviews.enums import ExpertiseKind, Meaning, ProjectStatus, Verdict
from reviews.models import (
    AuditWaiver,
    GuidelineItem,
    ItemReview,
    Project,
    Round,
    RoundOutcome,
    RoundReview,
    Signature,
    User,
)
from reviews.services.assignments import assignment_create, assignment_respond
from tests.factories import PASSWORD, ProjectFactory, ReviewerFactory
from tests.workflow import answer_everything, review, reviewers_on, sign, submitted, waive_all

ROLES = ("technical", "conflicted", "invited", "unassigned", "owner", "other", "admin", "anonymous")
LOGIN = "login"
CONFLICT = "I co-authored the generator paper with the applicants."


@dataclass
class World:
    project: Project
    round: Round
    users: dict[str, User]

    def client(self, role: str) -> Client:
        client = Client()
        if role != "anonymous":
            client.force_login(self.users[role])
        return client

    def url(self, name: str, **kwargs: Any) -> str:
        if name in {"project-detail", "project-withdraw", "project-amend"}:
            return reverse(name, kwargs={"pk": self.project.pk})
        return reverse(name, kwargs={"pk": self.project.pk, "number": self.round.number, **kwargs})


@pytest.fixture
def world(project, researcher, other_researcher, admin_user) -> World:
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    conflicted = ReviewerFactory(full_name="Connie Conflicted", expertise=ExpertiseKind.ETHICS)
    invited = ReviewerFactory(full_name="Ivy Invited", expertise=ExpertiseKind.CLINICAL)
    unassigned = ReviewerFactory(full_name="Una Unassigned")
    assignment_create(actor=admin_user, project=project, reviewer=conflicted)
    assignment_respond(actor=conflicted, project=project, accept=True, conflict_statement=CONFLICT)
    assignment_create(actor=admin_user, project=project, reviewer=invited)
    project.refresh_from_db()
    users = {
        "technical": technical,
        "clinical": clinical,
        "conflicted": conflicted,
        "invited": invited,
        "unassigned": unassigned,
        "owner": researcher,
        "other": other_researcher,
        "admin": admin_user,
    }
    return World(project, round_, users)


def items_of(round_: Round) -> list[GuidelineItem]:
    return list(GuidelineItem.objects.filter(version=round_.guideline_version_id).order_by("stage__order", "order"))


def review_form(round_: Round, *, verdict: str = Verdict.ACCEPTABLE, **per_item: tuple[str, str]) -> dict[str, str]:
    """POST data with `verdict` on every item, except per_item code -> (verdict, comment)."""
    data = {"declared_phase": "2", "overclaim": "within", "overclaim_note": ""}
    for item in items_of(round_):
        chosen, comment = per_item.get(item.code.replace("-", "_"), (verdict, ""))
        data[f"verdict_{item.code}"] = chosen
        data[f"comment_{item.code}"] = comment
    return data


INVITATION = "redirect to the invitation"


def assert_status(response, expected: int | str, url: str) -> None:
    if expected == INVITATION:
        assert response.status_code == 302 and response["Location"].endswith("/invitation/"), url
        assert b"Secret" not in response.content, url
    elif expected == LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")) and "next=" in response["Location"], url
    else:
        assert response.status_code == expected, (url, response.status_code)


# ---- who may open what ----------------------------------------------------------------------

GET_MATRIX: dict[str, dict[str, int | str]] = {
    "round-review": dict(technical=200, conflicted=200, invited=404, unassigned=404, owner=403, other=404, admin=200, anonymous=LOGIN),
    "round-sign": dict(technical=200, conflicted=403, invited=404, unassigned=404, owner=403, other=404, admin=403, anonymous=LOGIN),
    "round-diff": dict(technical=200, conflicted=200, invited=404, unassigned=404, owner=200, other=404, admin=200, anonymous=LOGIN),
    "round-detail": dict(technical=200, conflicted=200, invited=404, unassigned=404, owner=200, other=404, admin=200, anonymous=LOGIN),
    # An invited reviewer is sent to the invitation: accept or decline before any material.
    "project-detail": dict(technical=200, conflicted=200, invited=INVITATION, unassigned=404, owner=200, other=404, admin=200, anonymous=LOGIN),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GET_MATRIX))
def test_each_page_as_each_role(world, name):
    for role in ROLES:
        url = world.url(name)
        response = world.client(role).get(url)
        expected = GET_MATRIX[name][role]
        assert_status(response, expected, f"{name} as {role}")
        if expected != 200:
            assert world.project.title not in response.content.decode(), f"{name} as {role} leaks the title"


def test_review_page_is_a_form_for_the_accepted_reviewer(world):
    page = world.client("technical").get(world.url("round-review")).content.decode()

    assert 'name="verdict_PF-1"' in page and 'name="comment_PF-1"' in page
    assert 'name="declared_phase"' in page and 'name="overclaim"' in page
    assert "Save draft" in page and "Submit review" in page and "Mark all undecided items acceptable" in page
    assert "Documented in the protocol, section 3." in page  # the frozen evidence text
    assert world.round.digest[:16] in page


def test_review_page_is_read_only_for_a_conflicted_reviewer_with_the_reason(world):
    page = world.client("conflicted").get(world.url("round-review")).content.decode()

    assert "Read-only" in page and CONFLICT in page
    assert 'name="verdict_PF-1"' not in page and "Submit review" not in page
    assert "Documented in the protocol, section 3." in page


def test_review_page_is_read_only_for_an_admin(world):
    page = world.client("admin").get(world.url("round-review")).content.decode()

    assert "Administrators read the reviews" in page
    assert 'name="verdict_PF-1"' not in page and "Submit review" not in page


POST_REVIEW: dict[str, int | str] = dict(
    technical=302, conflicted=403, invited=404, unassigned=404, owner=403, other=404, admin=403, anonymous=LOGIN
)


def test_only_an_accepted_conflict_free_reviewer_saves_a_review(world):
    data = {**review_form(world.round), "action": "save"}
    for role in ROLES:
        response = world.client(role).post(world.url("round-review"), data)
        assert_status(response, POST_REVIEW[role], f"review POST as {role}")
    assert list(RoundReview.objects.values_list("reviewer__full_name", flat=True)) == ["Tess Technical"]


def test_only_an_accepted_conflict_free_reviewer_waives_an_audit(world):
    audit = AuditWaiver._meta.get_field("audit").choices[0][0]
    for role in ROLES:
        url = world.url("audit-waive", audit=audit)
        response = world.client(role).post(url, {f"waive-{audit}-reason": "Judged on the written evidence."})
        assert_status(response, POST_REVIEW[role], f"waive POST as {role}")
    assert list(AuditWaiver.objects.values_list("waived_by__full_name", flat=True)) == ["Tess Technical"]


def test_signing_is_refused_to_everyone_but_the_reviewers(world):
    data = {"meaning": Meaning.APPROVE, "statement": "", "digest": world.round.digest, "password": PASSWORD}
    expected = dict(GET_MATRIX["round-sign"], technical=400)  # no submitted review yet: a form error
    for role in ROLES:
        response = world.client(role).post(world.url("round-sign"), data)
        assert_status(response, expected[role], f"sign POST as {role}")
    assert not Signature.objects.exists()
    page = world.client("technical").post(world.url("round-sign"), data).content.decode()
    assert "submit your review of the items before you sign" in page


def test_withdraw_is_the_owners(world):
    expected = dict(technical=403, conflicted=403, invited=404, unassigned=404, other=404, admin=403, anonymous=LOGIN)
    for role, status in expected.items():
        response = world.client(role).post(world.url("project-withdraw"), {"reason": "Funding ended."})
        assert_status(response, status, f"withdraw as {role}")
    world.project.refresh_from_db()
    assert world.project.status == ProjectStatus.IN_REVIEW

    response = world.client("owner").post(world.url("project-withdraw"), {"reason": "Funding ended."})

    assert response.status_code == 302
    world.project.refresh_from_db()
    assert world.project.status == ProjectStatus.WITHDRAWN
    outcome = RoundOutcome.objects.get(round=world.round)
    assert outcome.outcome == "withdrawn" and outcome.reasons == "Funding ended."


def test_withdraw_needs_a_reason(world):
    client = world.client("owner")

    response = client.post(world.url("project-withdraw"), {"reason": "   "})
    long = client.post(world.url("project-withdraw"), {"reason": "Kept text. " + "x" * 20_000})

    assert response.status_code == 400
    assert (
        "Not withdrawn" in response.content.decode()
        and "Say why the project is withdrawn." in response.content.decode()
    )
    assert long.status_code == 400 and "Kept text. xxx" in long.content.decode()
    world.project.refresh_from_db()
    assert world.project.status == ProjectStatus.IN_REVIEW


def test_the_owner_sees_withdraw_but_not_amend_while_in_review(world):
    page = world.client("owner").get(world.url("project-detail")).content.decode()

    assert "Withdraw the project" in page and "Open an amendment" not in page
    assert world.client("owner").post(world.url("project-amend")).status_code == 403


def test_header_buttons_for_reviewers_and_admins(world):
    technical = world.client("technical").get(world.url("project-detail")).content.decode()
    admin = world.client("admin").get(world.url("project-detail")).content.decode()
    conflicted = world.client("conflicted").get(world.url("project-detail")).content.decode()

    assert f"Review round {world.round.number}</a>" in technical and "Assign reviewers" not in technical
    assert "Assign reviewers" in admin and reverse("assignment-list", kwargs={"pk": world.project.pk}) in admin
    assert "Review round 1</a>" not in conflicted and "Assign reviewers" not in conflicted


# ---- the review form ----------------------------------------------------------------------------


def test_a_concern_without_a_comment_is_refused_and_everything_typed_is_kept(world):
    data = review_form(world.round, PF_1=(Verdict.CONCERN, ""), PF_2=(Verdict.MUST_CHANGE, "Name the licence."))
    data["overclaim_note"] = "Typed note that must survive"

    response = world.client("technical").post(world.url("round-review"), {**data, "action": "save"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "PF-1: “Concern” needs a comment" in page
    assert "Name the licence." in page and "Typed note that must survive" in page
    assert (
        '<input type="radio" name="verdict_PF-2" value="must_change" class="btn-check" id="id_verdict_PF-2_3" checked>'
        in page
    )
    assert not RoundReview.objects.exists()


def test_submitting_needs_every_verdict_and_the_overclaim_check(world):
    data = review_form(world.round)
    data["verdict_PF-1"] = ""
    data["declared_phase"] = ""
    data["overclaim"] = ""

    response = world.client("technical").post(world.url("round-review"), {**data, "action": "submit"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "PF-1: choose a verdict before submitting the review." in page
    assert "Choose the evaluation phase the project declares (EV-1)." in page
    assert "Give your finding on the claims (EV-10, OV-2)." in page
    assert not RoundReview.objects.filter(submitted_at__isnull=False).exists()


def test_an_overclaim_needs_a_note(world):
    data = {**review_form(world.round), "overclaim": "overclaim", "action": "save"}

    response = world.client("technical").post(world.url("round-review"), data)

    assert response.status_code == 400
    assert "Say which claims go beyond the declared phase or the evidence." in response.content.decode()


def test_a_draft_is_kept_and_shown_again_then_undecided_items_marked_acceptable(world):
    client = world.client("technical")
    data = {key: "" if key.startswith("verdict_") else value for key, value in review_form(world.round).items()}
    data["verdict_EV-5"], data["comment_EV-5"] = Verdict.CONCERN, "Which external cohort?"

    assert client.post(world.url("round-review"), {**data, "action": "save"}).status_code == 302
    review_row = RoundReview.objects.get()
    assert review_row.submitted_at is None
    assert list(review_row.items.values_list("item__code", "verdict", "comment")) == [
        ("EV-5", "concern", "Which external cohort?")
    ]
    page = client.get(world.url("round-review")).content.decode()
    assert "Which external cohort?" in page

    assert client.post(world.url("round-review"), {**data, "action": "accept_rest"}).status_code == 302

    verdicts = dict(review_row.items.values_list("item__code", "verdict"))
    assert len(verdicts) == len(items_of(world.round))
    assert verdicts["EV-5"] == "concern" and verdicts["PF-1"] == "acceptable"
    assert RoundReview.objects.get().submitted_at is None


def test_the_overclaim_check_shows_the_researchers_declarations_beside_it(world, items):
    page = world.client("technical").get(world.url("round-review")).content.decode()

    overclaim = page[page.index('id="overclaim"') : page.index('id="stage-')]
    for code in ("EV-1", "EV-10", "OV-2"):
        assert f'<span class="item-code">{code}</span>' in overclaim
    assert "Documented in the protocol, section 3." in overclaim
    assert "Evaluation phase the project has reached (EV-1)" in overclaim


def test_a_submitted_review_is_frozen(world):
    client = world.client("technical")
    data = review_form(world.round, EV_5=(Verdict.CONCERN, "Frozen comment"))
    assert client.post(world.url("round-review"), {**data, "action": "submit"}).status_code == 302

    page = client.get(world.url("round-review")).content.decode()
    assert "You submitted this review at" in page and "Frozen comment" in page
    assert 'name="verdict_PF-1"' not in page

    response = client.post(world.url("round-review"), {**review_form(world.round), "action": "save"})
    assert response.status_code == 409
    assert "it can no longer change" in response.content.decode()
    assert ItemReview.objects.get(item__code="EV-5").comment == "Frozen comment"


def test_reviewers_do_not_see_each_others_verdicts_before_submitting_their_own(world):
    secret = "TECHNICAL-ONLY: the FID is computed on the training set"
    technical, clinical = world.client("technical"), world.client("clinical")
    data = review_form(world.round, EV_5=(Verdict.MUST_CHANGE, secret))
    assert technical.post(world.url("round-review"), {**data, "action": "submit"}).status_code == 302

    for url in (world.url("round-review"), world.url("round-detail"), world.url("project-detail")):
        assert secret not in clinical.get(url).content.decode(), url
    assert secret not in world.client("owner").get(world.url("round-detail")).content.decode()
    assert secret not in world.client("conflicted").get(world.url("round-review")).content.decode()
    assert secret in world.client("admin").get(world.url("round-review")).content.decode()

    clinical_draft = review_form(world.round, EV_5=(Verdict.CONCERN, "Clinical draft note"))
    assert clinical.post(world.url("round-review"), {**clinical_draft, "action": "save"}).status_code == 302
    assert secret not in clinical.get(world.url("round-review")).content.decode()
    assert "Clinical draft note" not in technical.get(world.url("round-review")).content.decode()

    assert clinical.post(world.url("round-review"), {**clinical_draft, "action": "submit"}).status_code == 302

    assert secret in clinical.get(world.url("round-review")).content.decode()
    assert secret in clinical.get(world.url("round-detail")).content.decode()
    assert "Clinical draft note" in technical.get(world.url("round-review")).content.decode()


def test_a_review_posted_after_the_round_closed_is_a_conflict_that_keeps_the_text(world):
    review(world.round, world.users["clinical"], verdict=Verdict.MUST_CHANGE)
    sign(world.round, world.users["clinical"], Meaning.REQUEST_CHANGES)
    data = review_form(world.round, EV_5=(Verdict.CONCERN, "Typed while the round closed"))

    response = world.client("technical").post(world.url("round-review"), {**data, "action": "save"})

    page = response.content.decode()
    assert response.status_code == 409
    assert "Round 1 is closed" in page and "Nothing was saved" in page
    assert "Typed while the round closed" in page and "can no longer be saved here" in page
    assert "Save draft" not in page
    assert not RoundReview.objects.filter(reviewer=world.users["technical"]).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"verdict_PF-1": "<script>alert(1)</script>"},
        {"verdict_PF-1": "acceptable\x00"},
        {"declared_phase": "99"},
        {"declared_phase": "one"},
        {"overclaim": "maybe"},
        {"comment_PF-1": "x" * 20_001},
        {"overclaim_note": "y" * 20_001},
    ],
)
def test_hostile_review_posts_are_form_errors_and_save_nothing(world, change):
    data = {**review_form(world.round), **change, "action": "submit"}

    response = world.client("technical").post(world.url("round-review"), data)

    assert response.status_code == 400
    assert "Not saved" in response.content.decode()
    assert not RoundReview.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"meaning": "final_approve"},
        {"meaning": "<b>approve</b>"},
        {"digest": ""},
        {"digest": "d" * 5000},
        {"password": ""},
        {"password": "p" * 5000},
        {"statement": "s" * 20_001},
    ],
)
def test_hostile_signing_posts_sign_nothing(world, change):
    review(world.round, world.users["technical"])
    data = {**sign_data(world.round), **change}

    response = world.client("technical").post(world.url("round-sign"), data)

    assert response.status_code == 400
    assert not Signature.objects.exists()


# ---- audits and waivers on the review page ---------------------------------------------------


def add_run(
    project: Project, *, digest: str, statuses: dict[str, str], metrics: dict[str, dict[str, float]]
) -> AuditRun:
    """Replace the synthetic set and record a finished run over the project's current inputs."""
    ImageSet.objects.filter(project=project, is_current=True).update(is_current=False)
    ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=project.owner, digest=digest, n_files=3, n_accepted=3,
        n_images=3,
    )  # fmt: skip
    results = {
        audit: {"audit": audit, "status": statuses.get(audit, "pass"), "summary": f"{audit} summary {digest[:4]}",
                "metrics": metrics.get(audit, {})}
        for audit in AUDITS
    }  # fmt: skip
    now = timezone.now()
    return AuditRun.objects.create(
        project=project, status=RunStatus.SUCCEEDED, reason="test evidence", input_digest=current_input_digest(project),
        results=results, started_at=now, finished_at=now, progress=100,
    )  # fmt: skip


@pytest.fixture
def audited(project, admin_user) -> tuple[Round, User, User]:
    answer_everything(project)
    add_run(
        project, digest="1" * 64, statuses={"memorization": "fail"}, metrics={"memorization": {"flagged_share": 0.25}}
    )
    from reviews.services.projects import project_submit

    round_ = project_submit(actor=project.owner, project=project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    return round_, technical, clinical


def test_bound_audit_results_show_beside_their_items_with_links(client, audited, project):
    round_, technical, _ = audited
    client.force_login(technical)
    run_pk = round_.snapshot["audit_results"]["run"]

    page = client.get(reverse("round-review", kwargs={"pk": project.pk, "number": 1})).content.decode()

    link = reverse("audit-result", kwargs={"pk": project.pk, "run_pk": run_pk, "audit": "memorization"})
    assert link in page
    assert "memorization summary 1111" in page
    assert (
        page.count('class="small mt-2 bound-audit"')
        == GuidelineItem.objects.filter(version=round_.guideline_version_id).exclude(audit="").count()
    )
    assert 'action="' + reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "memorization"}) in page
    assert reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "fidelity"}) not in page


def test_a_passing_audit_cannot_be_waived_and_a_waiver_needs_a_reason(client, audited, project):
    _round, technical, _ = audited
    client.force_login(technical)

    passing = client.post(reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "fidelity"}),
                          {"waive-fidelity-reason": "I like it."})  # fmt: skip
    unknown = client.post(reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "nosuch"}), {})
    empty = client.post(reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "memorization"}),
                        {"waive-memorization-reason": "  "})  # fmt: skip

    assert passing.status_code == 400 and "there is nothing to waive" in passing.content.decode()
    assert unknown.status_code == 404
    assert empty.status_code == 400 and "A waiver needs a written reason." in empty.content.decode()
    assert not AuditWaiver.objects.exists()

    done = client.post(reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "memorization"}),
                       {"waive-memorization-reason": "Flagged pairs are anatomical look-alikes, checked by eye."})  # fmt: skip
    again = client.post(reverse("audit-waive", kwargs={"pk": project.pk, "number": 1, "audit": "memorization"}),
                        {"waive-memorization-reason": "Twice."})  # fmt: skip

    assert done.status_code == 302
    waiver = AuditWaiver.objects.get()
    assert (waiver.audit, waiver.audit_status, waiver.waived_by) == ("memorization", "fail", technical)
    assert again.status_code == 409 and "was already waived" in again.content.decode()
    page = client.get(reverse("round-detail", kwargs={"pk": project.pk, "number": 1})).content.decode()
    assert "Flagged pairs are anatomical look-alikes, checked by eye." in page


def test_waivers_are_one_line_each_with_the_form_folded_until_needed(world):
    client = world.client("technical")
    bound = ["disclosure", "fidelity", "manifest", "memorization", "privacy", "representation"]

    page = client.get(world.url("round-review")).content.decode()

    assert [
        re.search(r'id="waive-(\w+)"', row).group(1) for row in page.split('class="list-group-item waiver-row')[1:]
    ] == bound
    assert page.count('<details class="waiver-form ms-auto">') == len(bound)  # every form folded
    assert "Waive Privacy (PHI)…</summary>" in page
    audits = page.split('id="audits"')[1].split("</section>")[0]
    assert "btn-outline-warning" not in audits and "btn-warning" in audits  # dark text on yellow, not yellow on white

    # A refused waiver opens its own form, with the error, and leaves the others folded.
    refused = client.post(world.url("audit-waive", audit="privacy"), {"waive-privacy-reason": " "})
    assert refused.status_code == 400
    html = refused.content.decode()
    privacy = html.split('id="waive-privacy"')[1].split("</li>")[0]
    assert '<details class="waiver-form ms-auto" open>' in privacy and "A waiver needs a written reason." in privacy
    assert html.count('<details class="waiver-form ms-auto">') == len(bound) - 1

    # A waived audit is one line: who, when, why; no form.
    reason = "Judged on the written evidence: no image set in this round."
    assert client.post(world.url("audit-waive", audit="privacy"), {"waive-privacy-reason": reason}).status_code == 302
    waiver = AuditWaiver.objects.get()
    html = client.get(world.url("round-review")).content.decode()
    privacy = html.split('id="waive-privacy"')[1].split("</li>")[0]
    assert f"Waived by Tess Technical at {waiver.waived_at:%Y-%m-%d %H:%M:%S} UTC: {reason}" in privacy
    assert "<details" not in privacy and "<form" not in privacy
    assert html.count('<details class="waiver-form ms-auto">') == len(bound) - 1


def test_submitting_a_review_says_where_the_others_verdicts_will_show(world):
    client = world.client("technical")

    response = client.post(world.url("round-review"), {**review_form(world.round), "action": "submit"}, follow=True)

    [message] = [str(m) for m in response.context["messages"]]
    assert "The other reviewers' verdicts show on this page as they submit theirs." in message
    assert "You now see" not in message
    assert "No other reviewer has submitted a review of this round yet." in response.content.decode()


def _policy_list(page: str) -> str:
    return page.split("policy-checks")[1].split("</ul>")[0]


def test_the_sign_off_policy_shows_unmet_checks_with_a_cross_and_audits_by_their_labels(world):
    review(world.round, world.users["technical"])
    client = world.client("technical")

    for name in ("round-sign", "round-detail"):
        policy = _policy_list(client.get(world.url(name)).content.decode())
        assert "2 approving signatures from assigned, conflict-free reviewers" in policy, name
        assert "signature(s)" not in policy, name
        labels = "Disclosure, Fidelity, Manifest coverage, Memorization, Privacy (PHI), Representation"
        assert f"not waived: {labels}" in policy, name
        # Unmet: a filled red cross, named for screen readers; never an empty circle like a radio button.
        assert policy.count("bi-x-circle-fill text-danger") == policy.count("Not met:") == 4, name
        assert policy.count("bi-check-circle-fill text-success") == policy.count(">Met:<") == 1, name
        assert "bi-circle " not in policy, name


def test_a_round_that_ended_without_approval_shows_its_policy_as_history(world):
    review(world.round, world.users["technical"], verdict=Verdict.MUST_CHANGE)
    client = world.client("technical")
    open_page = client.get(world.url("round-detail")).content.decode()
    assert ">Sign-off policy</h3>" in open_page and "not waived yet" in open_page

    sign(world.round, world.users["technical"], Meaning.REQUEST_CHANGES)
    page = client.get(world.url("round-detail")).content.decode()

    outcome = RoundOutcome.objects.get(round=world.round)
    assert "Sign-off policy when the round ended" in page
    assert f"The round ended with “changes requested” at {outcome.decided_at:%Y-%m-%d %H:%M:%S} UTC" in page
    policy = _policy_list(page)
    assert "text-danger" not in policy and "bi-x-circle" not in policy  # muted: nothing left to do
    assert policy.count("Not met:") == 5  # still said, for screen readers; now with the change request
    waivers = page.split('id="waivers"')[1].split("</section>")[0]
    assert "not waived yet" not in waivers and "text-danger" not in waivers
    assert waivers.count("not waived") == 6


def test_the_diff_page_leads_a_reviewer_to_the_review_of_the_round_under_review(world):
    review_link = f'href="{world.url("round-review")}"'
    for role, shown in [("technical", True), ("conflicted", False), ("owner", False), ("admin", False)]:
        page = world.client(role).get(world.url("round-diff")).content.decode()
        assert (review_link in page and "Review round 1</a>" in page) is shown, role

    review(world.round, world.users["technical"], verdict=Verdict.MUST_CHANGE)
    sign(world.round, world.users["technical"], Meaning.REQUEST_CHANGES)  # the round ends
    page = world.client("technical").get(world.url("round-diff")).content.decode()
    assert "Review round 1</a>" not in page


# ---- signing ------------------------------------------------------------------------------------


def sign_data(round_: Round, meaning: str = Meaning.APPROVE, statement: str = "", password: str = PASSWORD) -> dict:
    return {"meaning": meaning, "statement": statement, "digest": round_.digest, "password": password}


def test_the_signing_page_shows_exactly_what_is_signed(world):
    review(world.round, world.users["technical"])

    page = world.client("technical").get(world.url("round-sign")).content.decode()

    assert "Tess Technical" in page
    assert f"Round {world.round.number} of" in page and world.round.digest in page
    assert f'name="digest" value="{world.round.digest}"' in page
    assert "The server's clock in UTC" in page
    labels = re.findall(r'name="meaning" value="(\w+)"', page)
    assert labels == ["approve", "approve_with_conditions", "request_changes", "reject"]
    assert "Final decision" not in page
    assert 'type="password"' in page


def test_a_wrong_password_signs_nothing_and_counts_toward_the_lockout(world):
    review(world.round, world.users["technical"])
    client = world.client("technical")
    limit = settings.AXES_FAILURE_LIMIT

    for attempt in range(1, limit):
        response = client.post(world.url("round-sign"), sign_data(world.round, password="wrong-password"))
        assert response.status_code == 400
        assert "The password is not correct. Nothing was signed." in response.content.decode()
        assert AccessAttempt.objects.get(username=world.users["technical"].username).failures_since_start == attempt
    assert not Signature.objects.exists()

    locking = client.post(world.url("round-sign"), sign_data(world.round, password="wrong-password"))
    assert locking.status_code == 429 and "Too many failed attempts" in locking.content.decode()

    # Locked: even the right password signs nothing now, and logging in is refused too.
    right = client.post(world.url("round-sign"), sign_data(world.round))
    assert right.status_code == 429 and "Too many failed attempts" in right.content.decode()
    assert not Signature.objects.exists()
    login = Client().post(reverse("login"), {"username": world.users["technical"].username, "password": PASSWORD})
    assert login.status_code == 429


def test_a_stale_digest_signs_nothing_and_says_why(world):
    review(world.round, world.users["technical"])
    data = {**sign_data(world.round), "digest": "0" * 64}

    response = world.client("technical").post(world.url("round-sign"), data)

    assert response.status_code == 409
    page = response.content.decode()
    assert "Nothing was signed." in page and "different digest" in page
    assert not Signature.objects.exists()


def test_a_second_signature_by_the_same_reviewer_is_a_conflict(world):
    review(world.round, world.users["technical"])
    client = world.client("technical")

    first = client.post(world.url("round-sign"), sign_data(world.round))
    second = client.post(world.url("round-sign"), sign_data(world.round, Meaning.REJECT, "Changed my mind."))

    assert first.status_code == 302
    assert second.status_code == 409
    assert list(Signature.objects.values_list("meaning", flat=True)) == ["approve"]
    signature = Signature.objects.get()
    # Not an error: the first submission was signed, and the page says so and shows it.
    again = second.content.decode()
    assert "Your signature is already recorded." in again
    assert f"You signed round 1 as “Approve” at {signature.signed_at:%Y-%m-%d %H:%M:%S} UTC." in again
    assert "Nothing was signed." not in again and "alert-danger" not in again
    assert (
        'class="signature-record' in again
        and f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC</time> (server time)" in again
    )
    assert "The statement you typed in the later submission was not recorded" in again and "Changed my mind." in again
    assert 'type="password"' not in again
    page = client.get(world.url("round-sign")).content.decode()
    assert "You already signed round 1" in page and 'type="password"' not in page
    assert "Your signature is already recorded." not in page  # a plain visit is not a second submission


def test_a_double_submission_says_the_signature_is_recorded_without_repeating_the_statement(world):
    review(world.round, world.users["technical"])
    client = world.client("technical")
    data = sign_data(world.round, Meaning.APPROVE_WITH_CONDITIONS, "Publish the model card.")

    first, second = client.post(world.url("round-sign"), data), client.post(world.url("round-sign"), data)

    assert (first.status_code, second.status_code) == (302, 409)
    again = second.content.decode()
    assert "Your signature is already recorded." in again and "“Approve with conditions”" in again
    assert "not recorded" not in again  # the same statement was recorded, by the first submission
    assert Signature.objects.get().statement == "Publish the model card."


def test_approving_with_a_must_change_verdict_is_refused(world):
    review(world.round, world.users["technical"], verdict=Verdict.MUST_CHANGE)

    response = world.client("technical").post(world.url("round-sign"), sign_data(world.round))

    assert response.status_code == 400
    assert "You marked items “must change”" in response.content.decode()
    assert not Signature.objects.exists()


@pytest.mark.parametrize("meaning", [Meaning.APPROVE_WITH_CONDITIONS, Meaning.REQUEST_CHANGES, Meaning.REJECT])
def test_a_meaning_that_needs_a_statement_refuses_an_empty_one(world, meaning):
    review(world.round, world.users["technical"])

    response = world.client("technical").post(world.url("round-sign"), sign_data(world.round, meaning))

    assert response.status_code == 400
    assert f"“{Meaning(meaning).label}” needs" in response.content.decode()
    assert not Signature.objects.exists()


def test_a_signature_on_a_superseded_round_is_a_conflict(world):
    review(world.round, world.users["technical"])
    review(world.round, world.users["clinical"], verdict=Verdict.MUST_CHANGE)
    sign(world.round, world.users["clinical"], Meaning.REQUEST_CHANGES)

    response = world.client("technical").post(world.url("round-sign"), sign_data(world.round))

    assert response.status_code == 409
    assert "Round 1 is closed" in response.content.decode()
    assert Signature.objects.count() == 1


def test_the_admin_signs_the_final_decision_when_the_policy_reserves_it(world):
    from reviews.models import ReviewPolicy

    ReviewPolicy.objects.create(version_id=world.round.guideline_version_id, final_decision="admin")
    admin = world.client("admin")

    page = admin.get(world.url("round-sign")).content.decode()
    assert re.findall(r'name="meaning" value="(\w+)"', page) == ["final_approve", "final_reject"]
    assert "Final decision on round 1" in page

    response = admin.post(world.url("round-sign"), sign_data(world.round, Meaning.FINAL_APPROVE))
    assert response.status_code == 400
    assert "The sign-off policy is not met yet" in response.content.decode()

    response = admin.post(world.url("round-sign"), sign_data(world.round, Meaning.FINAL_REJECT, "Out of scope."))
    assert response.status_code == 302
    world.project.refresh_from_db()
    assert world.project.status == ProjectStatus.REJECTED
    owner_page = world.client("owner").get(world.url("project-detail")).content.decode()
    assert "Rejected in round 1" in owner_page and "Out of scope." in owner_page


# ---- the whole loop -------------------------------------------------------------------------


def test_request_changes_revise_resubmit_diff_and_approve_through_the_views(project, researcher, admin_user):
    owner = Client()
    owner.force_login(researcher)
    answer_everything(project)
    add_run(project, digest="1" * 64, statuses={"memorization": "fail"},
            metrics={"memorization": {"flagged_share": 0.25}, "fidelity": {"fd_ratio": 1.8}})  # fmt: skip
    assert owner.post(reverse("project-submit", kwargs={"pk": project.pk})).status_code == 302
    technical_user, clinical_user = reviewers_on(project, admin=admin_user)
    technical, clinical = Client(), Client()
    technical.force_login(technical_user)
    clinical.force_login(clinical_user)
    round1 = Round.objects.get(project=project, number=1)
    url = lambda name, number=1, **kw: reverse(name, kwargs={"pk": project.pk, "number": number, **kw})  # noqa: E731

    # 1. The technical reviewer asks for a change on EV-5, waives memorization and requests changes.
    comment = "Show the external validation cohort and its AUC."
    data = review_form(round1, EV_5=(Verdict.MUST_CHANGE, comment))
    assert technical.post(url("round-review"), {**data, "action": "submit"}).status_code == 302
    waived = technical.post(url("audit-waive", audit="memorization"),
                            {"waive-memorization-reason": "Look-alike anatomy, checked pair by pair."})  # fmt: skip
    assert waived.status_code == 302
    statement = "EV-5 needs the external validation."
    response = technical.post(url("round-sign"), sign_data(round1, Meaning.REQUEST_CHANGES, statement))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.status == ProjectStatus.CHANGES_REQUESTED

    # 2. The researcher sees the reasons and the comment per item, on the overview and the item.
    overview = owner.get(reverse("project-detail", kwargs={"pk": project.pk})).content.decode()
    assert "Changes requested in round 1" in overview
    assert comment in overview and statement in overview and "Tess Technical" in overview
    item_page = owner.get(reverse("answer-edit", kwargs={"pk": project.pk, "code": "EV-5"})).content.decode()
    assert "Reviewers' comments on EV-5 in round 1" in item_page and comment in item_page

    # 3. They revise EV-5, replace the images (a better run) and resubmit.
    revised = "External cohort: 412 patients from two sites, AUC 0.91."
    edit = owner.post(reverse("answer-edit", kwargs={"pk": project.pk, "code": "EV-5"}),
                      {"status": "met", "justification": "", "evidence_text": revised, "save": ""})  # fmt: skip
    assert edit.status_code == 302
    add_run(project, digest="2" * 64, statuses={},
            metrics={"memorization": {"flagged_share": 0.05}, "fidelity": {"fd_ratio": 1.2}})  # fmt: skip
    assert owner.post(reverse("project-submit", kwargs={"pk": project.pk})).status_code == 302
    round2 = Round.objects.get(project=project, number=2)
    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW

    # 4. The diff shows the changed answer, the replaced images and the metric change.
    diff = technical.get(url("round-diff", 2)).content.decode()
    assert "What changed from round 1 to round 2" in diff
    assert 'id="change-EV-5"' in diff and revised in diff
    assert 'id="change-PF-1"' not in diff and "unchanged item" in diff
    assert "1111111111" in diff and "2222222222" in diff
    assert "<td>0.25</td>" in diff and "<td>0.05</td>" in diff and "<td>-0.2</td>" in diff and "flagged_share" in diff
    assert "status changed" in diff
    first = technical.get(url("round-diff", 1)).content.decode()
    assert "is the first round: there is nothing before it to compare" in first

    # 5. Both approve round 2 with their passwords; the earlier signature does not count.
    for reviewer in (technical, clinical):
        assert reviewer.post(url("round-review", 2), {**review_form(round2), "action": "submit"}).status_code == 302
    assert technical.post(url("round-sign", 2), sign_data(round2)).status_code == 302
    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW
    conditions = "Publish the model card with the release."
    response = clinical.post(url("round-sign", 2), sign_data(round2, Meaning.APPROVE_WITH_CONDITIONS, conditions))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    assert Signature.objects.filter(round=round1).count() == 1 and Signature.objects.filter(round=round2).count() == 2

    # 6. Approved, with both signatures: name, meaning and UTC time, on the overview and the round.
    signatures = list(Signature.objects.filter(round=round2).order_by("signed_at"))
    for page in (
        owner.get(reverse("project-detail", kwargs={"pk": project.pk})).content.decode(),
        owner.get(url("round-detail", 2)).content.decode(),
    ):
        assert "Approved" in page
        for signature, meaning in zip(signatures, ("Approve", "Approve with conditions"), strict=True):
            assert signature.printed_name in page
            assert f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC" in page
            assert f">{meaning}</span>" in page
        assert conditions in page
    round_page = owner.get(url("round-detail", 2)).content.decode()
    assert "does not cover the content shown here" not in round_page
    assert round2.digest[:12] in round_page
    overview = owner.get(reverse("project-detail", kwargs={"pk": project.pk})).content.decode()
    assert "Approved in round 2" in overview and "Open an amendment" in overview

    # 7. An amendment reopens it for a new round.
    amend = reverse("project-amend", kwargs={"pk": project.pk})
    assert owner.post(amend, {"reason": "A second site joins."}).status_code == 302
    project.refresh_from_db()
    assert project.status == ProjectStatus.AMENDMENT


def test_a_signature_shows_everything_and_warns_when_its_digest_is_not_the_rounds(world):
    review(world.round, world.users["technical"])
    signature = sign(world.round, world.users["technical"], Meaning.APPROVE_WITH_CONDITIONS, "Add a model card.")

    page = world.client("admin").get(world.url("round-detail")).content.decode()
    shown = render_to_string("reviews/_signature.html", {"signature": signature, "digest": "f" * 64})

    assert "Tess Technical" in page and ">Approve with conditions</span>" in page and "Add a model card." in page
    assert f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC" in page
    assert f'title="{world.round.digest}">SHA-256 {world.round.digest[:12]}' in page
    assert "does not cover the content shown here" not in page
    assert "does not cover the content shown here" in shown


# ---- a fixed number of queries whatever the size of the round ---------------------------------


def reviewed_round(owner: User, admin: User, *, files: int) -> tuple[Project, User]:
    """A submitted round with `files` answers carrying an evidence file, reviewed by two
    reviewers, every audit waived and one approval signed."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from reviews.services.projects import answer_save, project_submit
    from reviews.validators import validate_evidence_file

    project = ProjectFactory(owner=owner, title=f"Project with {files} files")
    answer_everything(project)
    for item in items_of_version(project)[:files]:
        upload = SimpleUploadedFile(f"{item.code}.txt", f"Evidence for {item.code}\n".encode())
        answer_save(actor=owner, project=project, item=item, status="met", justification="",
                    evidence_text=f"See {item.code}.txt", files=[validate_evidence_file(upload)])  # fmt: skip
    round_ = project_submit(actor=owner, project=project)
    technical, clinical = reviewers_on(project, admin=admin)
    review(round_, technical, verdict=Verdict.CONCERN)
    review(round_, clinical)
    waive_all(round_, technical)
    sign(round_, clinical)
    return project, technical


def items_of_version(project: Project) -> list[GuidelineItem]:
    return list(GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order"))


def test_each_page_runs_the_same_queries_for_a_small_and_a_large_round(researcher, admin_user):
    """The five pages of a round measured on the same two rounds (building a reviewed round takes
    seconds), each request from a fresh signed-in client."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviews.views.reviewing import _PUBLISHED_ITEMS

    names = ("round-review", "round-detail", "round-sign", "round-diff", "project-detail")
    counts: dict[str, list[int]] = {name: [] for name in names}
    cold: dict[str, list[int]] = {name: [] for name in names}
    for files in (1, 45):
        project, technical = reviewed_round(researcher, admin_user, files=files)
        for name in names:
            kwargs = {"pk": project.pk} if name == "project-detail" else {"pk": project.pk, "number": 1}
            _PUBLISHED_ITEMS.clear()  # the first request of a process reads the catalogue items
            for measured in (cold, counts):
                client = Client()
                client.force_login(technical)
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(reverse(name, kwargs=kwargs))
                assert response.status_code == 200, name
                measured[name].append(len(queries))
    for name, (small, large) in counts.items():
        assert small == large, f"{name}: {small} queries with 1 file, {large} with 45"
        assert small == QUERIES[name], f"{name}: {small} queries, not {QUERIES[name]}: explain the change here"
        first = QUERIES[name] + FIRST_IN_PROCESS.get(name, 0)
        assert cold[name] == [first, first], f"{name}: {cold[name]} queries on a process's first request, not {first}"


def test_a_reviewer_with_a_draft_reads_the_review_page_in_the_same_queries_for_a_small_and_a_large_round(
    researcher, admin_user
):
    """The review page's usual reader: a reviewer still at work, with a draft of every item
    answered (1 or 45, each with a file) and the other reviewer's review submitted."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviews.models.review import ReviewDraft
    from reviews.services.projects import answer_save, project_submit
    from reviews.services.review import review_draft_save
    from reviews.validators import validate_evidence_file

    counts = []
    for files in (1, 45):
        project = ProjectFactory(owner=researcher, title=f"Drafted project with {files} files")
        answer_everything(project)
        items = items_of_version(project)[:files]
        for item in items:
            upload = SimpleUploadedFile(f"{item.code}.txt", f"Evidence for {item.code}\n".encode())
            answer_save(actor=researcher, project=project, item=item, status="met", justification="",
                        evidence_text=f"See {item.code}.txt", files=[validate_evidence_file(upload)])  # fmt: skip
        round_ = project_submit(actor=researcher, project=project)
        technical, clinical = reviewers_on(project, admin=admin_user)
        review(round_, clinical)
        draft = {f"verdict_{item.code}": Verdict.CONCERN for item in items}
        draft |= {f"comment_{item.code}": f"Drafted doubt about {item.code}." for item in items}
        review_draft_save(actor=technical, round_=round_, fields=draft)
        client = Client()
        client.force_login(technical)
        url = reverse("round-review", kwargs={"pk": project.pk, "number": 1})
        client.get(url)  # the process's first request of the version reads its items (FIRST_IN_PROCESS)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        page = response.content.decode()
        assert response.status_code == 200
        saved_at = ReviewDraft.objects.get(round=round_, reviewer=technical).saved_at
        assert f"Draft saved {saved_at:%H:%M:%S} UTC." in page
        assert page.count("Drafted doubt about ") == files
        assert "Carl Clinical" not in page  # the other verdicts stay hidden until this reviewer submits
        counts.append(len(queries))
    assert counts == [DRAFTING_REVIEWER, DRAFTING_REVIEWER], (
        f"{counts}, not {DRAFTING_REVIEWER}: explain the change here"
    )


# As a reviewer with a draft: the common queries below, the round with the draft (one query),
# the reviews (the viewer has none yet), the policy status (signatures, eligible assignments,
# waivers) and the evidence files. No query for the other reviewer's verdicts.
DRAFTING_REVIEWER = 11


# As the technical reviewer, on a round with no image set (so no audit run to read). Every
# page pays session, user, the bell's unread count, the project and the reviewer's
# assignment (the permission check), and the round with the project's latest round number
# and its version's sign-off policy (reviews.views.reviewing.project_round).
QUERIES = {
    # + the reviews of the round (the submitted ones the viewer may read and the viewer's own,
    # in one query: a reviewer who has not submitted saves one more), their verdicts, the
    # policy status (signatures, eligible assignments, waivers; the bound audits come from the
    # catalogue items, kept per process) and the evidence files still downloadable (matched
    # by digest).
    "round-review": 12,
    # + the policy status (4), the evidence files, the visible reviews with verdicts, items
    # and stages (the catalogue items are kept per process).
    "round-detail": 15,
    # + the reviewer's signature, review and its verdicts, and the policy status (4).
    "round-sign": 13,
    # + nothing to compare in round 1 (the latest round's number, to offer this reviewer the
    # "Review round 1" button, came with the round).
    "round-diff": 6,
    # + the checklist (stages, answers, files, items), the rounds with their signatures, the
    # rounds this reviewer has reviewed, and the latest round for the header.
    "project-detail": 13,
}
# A published version's catalogue items are read on a process's first request for them, then
# kept (reviews.views.reviewing._version_items): one query more on that first request.
FIRST_IN_PROCESS = {"round-review": 1, "round-detail": 1}
