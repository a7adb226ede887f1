"""The review and sign-off path through a real browser (issue 4, item 8).

An admin assigns a technical and a clinical reviewer from the suggestions; both accept
declaring no conflict; the technical reviewer requests changes on one item; the researcher
reads the consolidated comment, revises and resubmits; the technical reviewer reads what
changed and approves; the clinical reviewer types a wrong password once, then approves; the
project is approved and its round page shows both signatures. A second test opens the sign
page of one round twice (a stale page) and double-clicks the sign button: one signature each.

The submitted project is set up through the services (tests/workflow.py); everything after
that is done through the pages, as each role would. Screenshots of every step land in
test-artifacts/browser/<test name>/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from reviews.enums import (
    UNDER_REVIEW_STATUSES,
    AssignmentStatus,
    ExpertiseKind,
    Meaning,
    Outcome,
    ProjectStatus,
    Verdict,
)
from reviews.models import Assignment, AuditWaiver, ItemReview, Round, RoundOutcome, RoundReview, Signature
from reviews.selectors.review import bound_audits
from tests.factories import PASSWORD, ProjectFactory, ReviewerFactory
from tests.workflow import review, reviewers_on, submitted

pytestmark = pytest.mark.browser  # live_server makes every test transactional (pytest-django)

CATALOGUE_ITEMS = 45
CHANGED_ITEM = "DS-1"
ORIGINAL_EVIDENCE = "Documented in the protocol, section 3."  # what tests.workflow.answer_everything writes
MUST_CHANGE_COMMENT = "The README and two figure captions still say 'knee MRI scans': list where the term is fixed."
REVISED_EVIDENCE = "README, captions and file names now say 'synthetic knee MRI'; the lint report is in CHANGES.md."
CHANGES_STATEMENT = "DS-1: the terminology must be consistent before release; everything else is acceptable."
WAIVER_REASON = "No image set was frozen in this round; judged on the written evidence and the protocol."
PHASE = "1 · Algorithmic / model-space metrics"
WITHIN = "Claims stay within the declared phase and are backed by evidence"
NO_CONFLICT = "I have no conflict of interest with this project or its researcher"
# Expected failures (the 400 of a wrong password, the 409 of a stale page) are console errors too.
_RESOURCE_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of \d+")


# ---- helpers -------------------------------------------------------------------------------


def field(page: Page, label: str):
    """A form control by its visible label; crispy-forms appends '*' to required labels."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def log_in(page: Page, user) -> None:  # type: ignore[no-untyped-def]
    page.goto("/accounts/login/")
    field(page, "Username").fill(user.username)
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Welcome, {user.full_name}")).to_be_visible()


def log_out(page: Page, user) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name=re.compile(rf"{re.escape(user.full_name)}\b")).click()
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#nav").get_by_role("link", name="Log in", exact=True)).to_be_visible()


def accept_dialogs(page: Page) -> list[str]:
    """Accept the confirm() of irreversible buttons, like a user who means it; keep the questions."""
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    return asked


def watch(page: Page, errors: list[str]) -> None:
    """The browser_errors fixture's listeners, for a second page of the same test."""
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}") if m.type == "error" and not _RESOURCE_ERROR.match(m.text) else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} for {r.request.resource_type} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )


def review_round(
    page: Page, *, must_change: str = "", comment: str = "", shot: Callable[[str], Path] | None = None
) -> None:
    """On the review page: an optional "must change", the overclaim check, the rest acceptable, submit."""
    if must_change:
        row = page.locator(f"#item-{must_change}")
        row.locator("label", has_text="Must change").click()
        expect(row.get_by_role("radio", name="Must change")).to_be_checked()
        page.get_by_label(f"Comment on {must_change}", exact=True).fill(comment)
    field(page, "Evaluation phase the project has reached (EV-1)").select_option(label=PHASE)
    page.get_by_label(WITHIN, exact=True).check()
    page.get_by_role("button", name="Mark all undecided items acceptable").click()
    expect(page.get_by_role("alert").first).to_contain_text("Undecided items marked acceptable; draft saved.")
    expect(page.get_by_role("radio", name="Acceptable", checked=True)).to_have_count(
        CATALOGUE_ITEMS - (1 if must_change else 0)
    )
    if must_change:  # the shortcut left the decided item alone, comment and all
        row = page.locator(f"#item-{must_change}")
        expect(row.get_by_role("radio", name="Must change")).to_be_checked()
        expect(page.get_by_label(f"Comment on {must_change}", exact=True)).to_have_value(comment)
    if shot is not None:
        shot("review-draft-before-submit")
    page.get_by_role("button", name="Submit review").click()
    expect(page.get_by_role("alert").first).to_contain_text("submitted; it can no longer change")
    expect(page.get_by_role("button", name="Submit review")).to_have_count(0)


def decide_changed_item(page: Page) -> None:
    """Round 2 marks the item the researcher changed and leaves it undecided (carry-forward):
    the reviewer reads it and decides it before the shortcut marks the rest."""
    row = page.locator(f"#item-{CHANGED_ITEM}")
    expect(row).to_contain_text("Changed since round 1")
    expect(row.get_by_role("radio", name="Undecided")).to_be_checked()
    row.locator("label", has_text="Acceptable").click()


def sign(page: Page, meaning: str, *, statement: str = "", password: str = PASSWORD) -> None:
    """Fill the sign page's form and press the sign button."""
    page.get_by_label(meaning, exact=True).check()
    if statement:
        field(page, "Statement").fill(statement)
    field(page, "Your password").fill(password)
    page.get_by_role("button", name=re.compile(r"^Sign as ")).click()


def signature_on(scope, signature: Signature):  # type: ignore[no-untyped-def]
    """The signature's card in `scope` (a page or a part of one) as a user reads it: printed
    name, meaning, UTC time and the round digest it signs."""
    card = scope.locator(".signature-record").filter(has_text=signature.printed_name)
    expect(card).to_have_count(1)
    expect(card.locator(".signature-name")).to_have_text(signature.printed_name)
    expect(card.locator(".badge")).to_have_text(signature.get_meaning_display())
    expect(card).to_contain_text(f"Signed {signature.signed_at:%Y-%m-%d %H:%M:%S} UTC (server time)")
    expect(card).to_contain_text(f"Signs round digest SHA-256 {signature.round_digest[:12]}…")
    return card


def signature_line_on(scope, signature: Signature):  # type: ignore[no-untyped-def]
    """The signature's one-line entry in `scope` (the overview's "Review rounds" column): printed
    name, meaning and UTC time, without the full card."""
    line = scope.locator(".signature-line").filter(has_text=signature.printed_name)
    expect(line).to_have_count(1)
    expect(line.locator(".signature-name")).to_have_text(signature.printed_name)
    expect(line.locator(".badge")).to_have_text(signature.get_meaning_display())
    expect(line).to_contain_text(f"{signature.signed_at:%Y-%m-%d %H:%M} UTC")
    expect(line.locator("time")).to_have_attribute("title", f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC")
    return line


# ---- 1. the whole loop --------------------------------------------------------------------


def test_assign_request_changes_revise_and_approve(
    page: Page, shot: Callable[[str], Path], browser_errors, catalogue, researcher, admin_user
):
    technical = ReviewerFactory(username="tess", full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    clinical = ReviewerFactory(username="carl", full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL)
    project = ProjectFactory(
        owner=researcher, guideline_version=catalogue, title="Synthetic knee MRI for tear detection"
    )
    round1 = submitted(project)
    project_url = f"/projects/{project.pk}/"
    dialogs = accept_dialogs(page)

    # 1. The admin logs in, opens the project and assigns both reviewers from the suggestions.
    log_in(page, admin_user)
    page.get_by_role("link", name="Projects", exact=True).click()
    page.get_by_role("link", name=project.title).first.click()
    expect(page).to_have_url(re.compile(rf"{project_url}$"))
    page.get_by_role("link", name="Assign reviewers").click()
    expect(page.get_by_role("heading", name="Suggested reviewers")).to_be_visible()
    expect(page.get_by_text("Nobody is assigned yet.")).to_be_visible()
    suggestions = page.locator("tr[id^='suggestion-']")
    expect(suggestions.filter(has_text="Tess Technical")).to_contain_text("Technical")
    expect(suggestions.filter(has_text="Carl Clinical")).to_contain_text("Clinical")
    expect(suggestions.filter(has_text=researcher.full_name)).to_have_count(0)
    shot("admin-suggestions")
    for reviewer in (technical, clinical):
        suggestions.filter(has_text=reviewer.full_name).get_by_role("button", name="Assign").click()
        expect(page.get_by_role("alert").first).to_contain_text(f"{reviewer.full_name} is invited to review")
        expect(page.locator(f"#suggestion-{reviewer.pk}").get_by_text("Assigned", exact=True)).to_be_visible()
    assigned = page.locator("tr[id^='assignment-']")
    expect(assigned).to_have_count(2)
    expect(assigned.filter(has_text="Tess Technical")).to_contain_text("No response yet.")
    shot("admin-assigned-two")
    assert set(Assignment.objects.filter(project=project).values_list("reviewer__username", "status")) == {
        ("tess", AssignmentStatus.INVITED),
        ("carl", AssignmentStatus.INVITED),
    }
    log_out(page, admin_user)

    # 2. The clinical reviewer finds the invitation under "My reviews" and accepts, no conflict.
    log_in(page, clinical)
    expect(page.locator("#unread-count")).to_have_text("1 unread")
    page.get_by_role("link", name="My reviews").click()
    invitations = page.get_by_role("region", name=re.compile(r"^Invitations"))
    expect(invitations.get_by_role("link")).to_have_count(1)
    expect(invitations).to_contain_text(project.title)
    expect(invitations).to_contain_text(f"by {researcher.full_name}")
    shot("clinical-my-reviews-invitation")
    invitations.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Review invitation")).to_be_visible()
    page.get_by_label(NO_CONFLICT, exact=True).check()
    shot("clinical-invitation")
    page.get_by_role("button", name="Accept the review").click()
    expect(page).to_have_url(re.compile(rf"{project_url}$"))
    expect(page.get_by_role("alert").first).to_contain_text("You accepted the review.")
    expect(page.locator("#unread-count")).to_have_count(0)  # answering settled the invitation's notification
    log_out(page, clinical)

    # 3. The technical reviewer follows the bell's notification to the invitation and accepts.
    log_in(page, technical)
    expect(page.locator("#unread-count")).to_have_text("1 unread")
    page.locator("#nav-notifications").click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    invitation = page.get_by_role("button", name=f"Review invitation: {project.title}")
    expect(invitation).to_be_visible()
    # One row per notification: text left; time and "Mark as read" right, stacked below on a phone.
    row = page.locator(".notification").first
    text, meta = row.locator(".notification-text").bounding_box(), row.locator(".notification-meta").bounding_box()
    assert text is not None and meta is not None
    assert meta["x"] >= text["x"] + text["width"] and abs(meta["y"] - text["y"]) < 8, (text, meta)
    expect(row.locator(".notification-meta")).to_contain_text("UTC")
    expect(row.locator(".notification-meta").get_by_role("button", name="Mark as read")).to_be_visible()
    shot("technical-notifications")
    page.set_viewport_size({"width": 390, "height": 844})
    text, meta = row.locator(".notification-text").bounding_box(), row.locator(".notification-meta").bounding_box()
    assert text is not None and meta is not None
    assert meta["y"] >= text["y"] + text["height"] and meta["x"] == text["x"], (text, meta)
    shot("technical-notifications-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})
    invitation.click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/invitation/$"))
    expect(page.locator("#unread-count")).to_have_count(0)
    page.get_by_label(NO_CONFLICT, exact=True).check()
    page.get_by_role("button", name="Accept the review").click()
    expect(page.get_by_role("alert").first).to_contain_text("You accepted the review.")
    assert not Assignment.objects.filter(project=project).exclude(status=AssignmentStatus.ACCEPTED).exists()
    assert not Assignment.objects.filter(project=project, has_conflict=True).exists()

    # 4. Round 1: DS-1 must change, the rest acceptable, overclaim check; submit; request changes.
    page.get_by_role("link", name="Review round 1").click()
    expect(page.get_by_role("heading", name="Review of round 1")).to_be_visible()
    expect(page.get_by_text("This round froze no image set")).to_be_visible()
    review_round(page, must_change=CHANGED_ITEM, comment=MUST_CHANGE_COMMENT, shot=shot)
    row = page.locator(f"#item-{CHANGED_ITEM}")
    expect(row).to_contain_text("Your verdict: Must change")
    expect(row).to_contain_text(MUST_CHANGE_COMMENT)
    shot("technical-round-1-review-submitted")
    assert dialogs[-1].startswith("Submit the review?")
    own = RoundReview.objects.get(round=round1, reviewer=technical)
    assert own.submitted_at is not None and own.declared_phase == 1 and own.overclaim == "within"
    verdicts = dict(ItemReview.objects.filter(review=own).values_list("item__code", "verdict"))
    assert len(verdicts) == CATALOGUE_ITEMS and verdicts.pop(CHANGED_ITEM) == Verdict.MUST_CHANGE
    assert set(verdicts.values()) == {Verdict.ACCEPTABLE}

    page.get_by_role("link", name="Sign your decision").click()
    expect(page.get_by_role("heading", name="Sign your decision on round 1")).to_be_visible()
    expect(page.locator("#sign-digest")).to_have_text(round1.digest)
    expect(page.get_by_text("44 acceptable, 0 concerns, 1 must change")).to_be_visible()
    page.get_by_label("Request changes", exact=True).check()
    expect(page.locator("#sign-meaning")).to_have_text("Request changes")  # static/js/review.js
    expect(page.locator("#statement-hint")).to_contain_text("Required: write")
    field(page, "Statement").fill(CHANGES_STATEMENT)
    field(page, "Your password").fill(PASSWORD)
    shot("technical-round-1-sign-request-changes")
    page.get_by_role("button", name="Sign as Tess Technical").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/rounds/1/$"))
    expect(page.get_by_role("alert").first).to_contain_text("Signed “Request changes” on round 1 as Tess Technical")
    expect(page.locator("#round-outcome")).to_contain_text("Changes requested")
    request_changes = Signature.objects.get(round=round1)
    assert (request_changes.signer_id, request_changes.meaning) == (technical.pk, Meaning.REQUEST_CHANGES)
    assert request_changes.round_digest == round1.digest and request_changes.statement == CHANGES_STATEMENT
    signature_on(page.locator("#signatures"), request_changes)
    shot("technical-round-1-signed")
    assert RoundOutcome.objects.get(round=round1).outcome == Outcome.CHANGES_REQUESTED
    project.refresh_from_db()
    assert project.status == ProjectStatus.CHANGES_REQUESTED
    log_out(page, technical)

    # 5. The researcher reads the requested change (overview and the item's page), revises, resubmits.
    log_in(page, researcher)
    page.get_by_role("link", name="Projects", exact=True).click()
    page.get_by_role("link", name=project.title).first.click()
    expect(page.locator(".badge", has_text="Changes requested").first).to_be_visible()
    feedback = page.locator("#feedback")
    expect(feedback.get_by_role("heading", name="Changes requested in round 1")).to_be_visible()
    expect(feedback).to_contain_text(CHANGES_STATEMENT)
    comments = feedback.get_by_role("listitem")
    expect(comments).to_have_count(1)
    expect(comments).to_contain_text(CHANGED_ITEM)
    expect(comments.locator(".feedback-entry")).to_contain_text(f"Tess Technical: Must change {MUST_CHANGE_COMMENT}")
    signature_on(feedback, request_changes)
    rounds = page.locator("#rounds")
    signature_line_on(rounds, request_changes)
    expect(rounds.locator(".signature-record")).to_have_count(0)  # the full card shows once, in the feedback
    decided = RoundOutcome.objects.get(round=round1).decided_at
    expect(rounds).to_contain_text(f"Decided {decided:%Y-%m-%d %H:%M} UTC")
    expect(rounds.locator(f"[title='{round1.digest}']")).to_have_text(f"{round1.digest[:12]}…")
    shot("researcher-overview-changes-requested")
    comments.get_by_role("link", name=f"Revise {CHANGED_ITEM}").click()
    expect(page).to_have_url(re.compile(rf"/checklist/{CHANGED_ITEM}/$"))
    item_comments = page.locator("#reviewer-comments")
    expect(item_comments.get_by_role("heading")).to_have_text(f"Reviewers' comments on {CHANGED_ITEM} in round 1")
    expect(item_comments).to_contain_text(f"Tess Technical: Must change {MUST_CHANGE_COMMENT}")
    expect(field(page, "Evidence")).to_have_value(ORIGINAL_EVIDENCE)
    field(page, "Evidence").fill(REVISED_EVIDENCE)
    shot("researcher-item-with-comment")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").first).to_contain_text(f"{CHANGED_ITEM} saved.")
    page.get_by_role("link", name="Submit for review").click()
    expect(page.get_by_role("heading", name="The checklist is complete")).to_be_visible()
    page.get_by_role("button", name="Submit for review").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/rounds/2/$"))
    expect(page.get_by_role("alert").first).to_contain_text("Submitted for review. Round 2 is frozen.")
    round2 = Round.objects.get(project=project, number=2)
    assert round2.digest != round1.digest
    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW
    shot("researcher-round-2-submitted")
    log_out(page, researcher)

    # 6. The technical reviewer reads what changed, reviews round 2, waives the audits, approves.
    log_in(page, technical)
    page.locator("#nav-notifications").click()
    page.get_by_role("button", name=f"{project.title}: round 2 submitted").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/rounds/2/changes/$"))
    expect(page.get_by_role("heading", name="What changed from round 1 to round 2")).to_be_visible()
    expect(page.get_by_text(f"1 answer changed, {CATALOGUE_ITEMS - 1} unchanged")).to_be_visible()
    change = page.locator(".answer-change")
    expect(change).to_have_count(1)
    expect(change.locator(".item-code")).to_have_text(CHANGED_ITEM)
    expect(change.locator(".diff-removed")).to_have_text(f"removed: {ORIGINAL_EVIDENCE}")
    expect(change.locator(".diff-added")).to_have_text(f"added: {REVISED_EVIDENCE}")
    shot("technical-diff-round-2")
    page.get_by_role("link", name="Review round 2").first.click()
    expect(page.get_by_role("heading", name="Review of round 2")).to_be_visible()
    decide_changed_item(page)
    review_round(page)
    # The flash says where the others' verdicts will show; none is in yet, and the page says so.
    expect(page.get_by_role("alert").first).to_contain_text(
        "The other reviewers' verdicts show on this page as they submit theirs."
    )
    expect(page.get_by_text("No other reviewer has submitted a review of this round yet.")).to_be_visible()
    # One line per audit to waive, its form folded behind "Waive …": no reason field or button
    # shows until the reviewer opens one.
    toggles = page.locator("#audits details.waiver-form > summary")
    needed = len(bound_audits(catalogue))
    expect(page.locator("#audits .waiver-row")).to_have_count(needed)
    expect(toggles).to_have_count(needed)
    expect(page.get_by_role("button", name=re.compile(r"^Waive "))).to_have_count(0)
    rows_height = page.locator("#audits .waiver-list").bounding_box()["height"]  # type: ignore[index]
    assert rows_height < 60 * needed, f"{needed} waiver rows take {rows_height}px"
    shot("technical-round-2-waivers-folded")
    for remaining in range(needed, 0, -1):
        toggles.first.click()
        box = page.locator("[id^='waive-']").filter(has=page.locator("details[open]"))
        expect(box).to_have_count(1)
        box.get_by_label(re.compile(r"^\s*Reason for accepting this result")).fill(WAIVER_REASON)
        if remaining == needed:
            shot("technical-round-2-waiver-open")
        box.get_by_role("button", name=re.compile(r"^Waive ")).click()
        expect(page.get_by_role("alert").first).to_contain_text("waived for round 2, with your reason")
        expect(toggles).to_have_count(remaining - 1)
    expect(page.locator("#audits .waiver-record")).to_have_count(needed)
    for waiver in AuditWaiver.objects.filter(round=round2):  # who, when and why, on the audit's line
        expect(page.locator(f"#waive-{waiver.audit} .waiver-record")).to_have_text(
            f"Waived by Tess Technical at {waiver.waived_at:%Y-%m-%d %H:%M:%S} UTC: {WAIVER_REASON}"
        )
    assert AuditWaiver.objects.filter(round=round2, waived_by=technical).count() == needed
    shot("technical-round-2-reviewed-and-waived")
    page.get_by_role("link", name="Sign your decision").click()
    expect(page.get_by_text("45 acceptable, 0 concerns, 0 must change")).to_be_visible()
    sign(page, "Approve")
    expect(page.get_by_role("alert").first).to_contain_text("Signed “Approve” on round 2 as Tess Technical")
    expect(page.locator("#round-outcome")).to_have_count(0)  # one approval of two: still under review
    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW
    page.get_by_role("link", name="My reviews").click()
    mine = (
        page.get_by_role("region", name=re.compile(r"^Accepted reviews"))
        .get_by_role("row")
        .filter(has_text=project.title)
    )
    expect(mine).to_contain_text("Round 2")
    expect(mine).to_contain_text("Approve, ")
    expect(mine).to_contain_text("Waiting for the other reviewers")
    log_out(page, technical)

    # 7. The clinical reviewer reviews round 2, types a wrong password once, then approves.
    log_in(page, clinical)
    page.get_by_role("link", name="My reviews").click()
    page.get_by_role("link", name=re.compile(r"^Open review")).click()
    expect(page.get_by_role("heading", name="Review of round 2")).to_be_visible()
    decide_changed_item(page)
    review_round(page)
    expect(page.locator(".other-verdict").filter(has_text="Tess Technical").first).to_be_visible()
    page.get_by_role("link", name="Sign your decision").click()
    expect(page.get_by_role("heading", name="Sign your decision on round 2")).to_be_visible()
    expect(page.locator("#sign-digest")).to_have_text(round2.digest)
    shot("clinical-sign-page")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/sign/")) as posted:
        sign(page, "Approve", password="not-my-password")
    assert posted.value.status == 400
    password_error = page.locator("#error_1_id_password")  # announced: role=alert, tied to the field
    expect(password_error).to_have_attribute("role", "alert")
    expect(password_error).to_have_text("The password is not correct. Nothing was signed.")
    expect(field(page, "Your password")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "Your password")).to_have_value("")
    expect(page.get_by_label("Approve", exact=True)).to_be_checked()  # the choice is kept
    shot("clinical-wrong-password")
    assert Signature.objects.filter(round=round2).count() == 1
    field(page, "Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign as Carl Clinical").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/rounds/2/$"))
    expect(page.get_by_role("alert").first).to_contain_text("Signed “Approve” on round 2 as Carl Clinical")

    # 8. Approved: the round page shows both signatures with names, meanings, UTC times, digest.
    expect(page.locator("#round-outcome")).to_contain_text("Approved")
    expect(page.locator("#round-outcome")).to_contain_text("when the sign-off policy was met")
    expect(page.locator(".badge", has_text="Approved").first).to_be_visible()
    expect(page.locator("#round-digest")).to_have_text(round2.digest)
    approvals = list(Signature.objects.filter(round=round2).order_by("signed_at", "pk"))
    assert [(s.signer_id, s.meaning, s.printed_name) for s in approvals] == [
        (technical.pk, Meaning.APPROVE, "Tess Technical"),
        (clinical.pk, Meaning.APPROVE, "Carl Clinical"),
    ]
    assert all(s.round_digest == round2.digest for s in approvals)
    for signature in approvals:
        signature_on(page.locator("#signatures"), signature)
    expect(page.locator("#signatures .signature-record")).to_have_count(2)
    expect(page.locator(".policy-checks")).not_to_contain_text("Not met")
    shot("clinical-round-2-approved")
    assert RoundOutcome.objects.get(round=round2).outcome == Outcome.APPROVED
    assert Signature.objects.count() == 3
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    log_out(page, clinical)

    # The researcher sees the approval and both signatures on the overview.
    log_in(page, researcher)
    page.goto(project_url)
    feedback = page.locator("#feedback")
    expect(feedback.get_by_role("heading", name="Approved in round 2")).to_be_visible()
    for signature in approvals:
        signature_on(feedback, signature)
    shot("researcher-overview-approved")

    assert browser_errors == []


# ---- 2. a stale page and a double click ---------------------------------------------------


def test_stale_sign_page_and_double_click_give_one_signature(
    page: Page, context, shot: Callable[[str], Path], browser_errors, catalogue, researcher, admin_user
):
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Synthetic chest CT for nodules")
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    review(round_, technical)
    review(round_, clinical)
    sign_url = f"/projects/{project.pk}/rounds/1/sign/"

    # 1. The technical reviewer has the sign page open in two tabs; the first tab signs.
    log_in(page, technical)
    stale = context.new_page()
    watch(stale, browser_errors)
    page.goto(sign_url)
    stale.goto(sign_url)
    expect(stale.get_by_role("heading", name="Sign your decision on round 1")).to_be_visible()
    folder = shot("first-tab-sign-page").parent
    sign(page, "Approve")
    expect(page.get_by_role("alert").first).to_contain_text("Signed “Approve” on round 1 as Tess Technical")
    shot("first-tab-signed")

    # 2. The second, stale tab signs too: a clear conflict, nothing signed twice.
    with stale.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/sign/")) as posted:
        sign(stale, "Approve with conditions", statement="Re-run the fidelity audit on the external set.")
    assert posted.value.status == 409
    first = Signature.objects.get(round=round_, signer=technical)
    # Not an error: the signature of the first tab is recorded, and the page says so and shows it.
    recorded = stale.locator("#already-signed")
    expect(recorded).to_have_attribute("role", "status")
    expect(recorded).to_contain_text("Your signature is already recorded.")
    expect(recorded).to_contain_text(f"You signed round 1 as “Approve” at {first.signed_at:%Y-%m-%d %H:%M:%S} UTC.")
    expect(recorded).to_contain_text("the later submission changed nothing")
    expect(recorded).to_contain_text("Re-run the fidelity audit on the external set.")  # what was typed is kept
    expect(stale.get_by_text("Nothing was signed.")).to_have_count(0)
    expect(stale.get_by_role("alert")).to_have_count(0)
    signature_on(stale, first)
    expect(stale.get_by_role("button", name=re.compile(r"^Sign as "))).to_have_count(0)
    stale.screenshot(path=str(folder / "02a-stale-tab-conflict.png"), full_page=True)  # between shot() 02 and 03
    signatures = Signature.objects.filter(round=round_, signer=technical)
    assert signatures.count() == 1 and signatures.get().meaning == Meaning.APPROVE
    stale.close()
    log_out(page, technical)

    # 3. The clinical reviewer double-clicks the sign button: one signature.
    log_in(page, clinical)
    page.goto(sign_url)
    page.get_by_label("Approve", exact=True).check()
    field(page, "Your password").fill(PASSWORD)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/sign/") else None)
    page.get_by_role("button", name="Sign as Carl Clinical").dblclick()
    # static/js/review.js lets the form go once: one POST, and the round page with the signature.
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/rounds/1/$"))
    expect(page.get_by_role("alert").first).to_contain_text("Signed “Approve” on round 1 as Carl Clinical")
    expect(page.locator(".signature-record").filter(has_text="Carl Clinical")).to_be_visible()
    expect(page.get_by_text("Nothing was signed.")).to_have_count(0)
    shot("double-click-result")
    assert len(posts) == 1
    signed = Signature.objects.filter(round=round_, signer=clinical)
    assert signed.count() == 1 and signed.get().meaning == Meaning.APPROVE
    signature_on(page, signed.get())
    assert Signature.objects.filter(round=round_).count() == 2
    # The round is not approved: the audits of this round (no image set) are not waived.
    project.refresh_from_db()
    assert project.status in UNDER_REVIEW_STATUSES

    assert browser_errors == []
