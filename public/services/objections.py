"""Writes of the objection channel: sending, triage, responses and decisions.

Every step is one transaction that writes the change and its hash-chained activity entry
(with the project set, so the project's history shows it). Triage steps are compare-and-set
on the objection's status: of two administrators acting on the same objection from the same
page, one wins and the other is told; a closed objection (upheld or dismissed) never changes.

The log never holds the sender's name or email (the researcher reads the project's history),
and holds the SHA-256 of the objection's text rather than the text, which the board may choose
not to publish.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rules
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from config.site import site_url
from public.models import Objection, ObjectionResponse, ObjectionStatus, Remedy
from public.selectors.objections import OPEN_OBJECTION_STATUSES, public_title, token_digest
from reviews.enums import AMENDMENT_STATUSES, Action, EventKind, NotificationKind
from reviews.events import event_emit
from reviews.models import Project, User
from reviews.services.activity import activity_record
from reviews.services.decisions import project_amend, project_suspend
from reviews.services.notifications import admins, notify
from reviews.services.review import TransitionConflict, lock_project

logger = logging.getLogger("public.objections")


class ObjectionClosed(TransitionConflict):
    """The objection was decided (maybe by another administrator a moment ago)."""


@dataclass(frozen=True)
class Sent:
    objection: Objection
    token: str  # shown once to the sender; only its SHA-256 is stored


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tracking_url(token: str) -> str:
    return site_url() + reverse("objection-track", kwargs={"token": token})


def _mail_sender(*, email: str, subject: str, body: str) -> None:
    """After commit: the sender's email. A mail server that is down must not turn a recorded
    objection into an error page; the tracking page shows the same."""
    if not email:
        return

    def send() -> None:
        try:
            send_mail(subject=f"[MISyn Review] {subject}", message=body, from_email=None, recipient_list=[email])
        except Exception:  # any mail error is logged; the objection is recorded
            logger.exception("objection email to the sender not sent")

    transaction.on_commit(send)


@transaction.atomic
def objection_send(*, project: Project, title: str, kind: str, text: str, name: str = "", email: str = "") -> Sent:
    """Record a question or objection about a registered project from anyone; the sender's
    tracking link goes by email (when given) after commit, and the administrators are told.

    `title` is the title the register shows (of the approved round), which the sender knows.
    """
    text = text.strip()
    if not text:
        raise ValueError("Write your question or objection.")
    token = secrets.token_urlsafe(32)
    objection = Objection.objects.create(
        project=project,
        kind=kind,
        text=text,
        name=name.strip(),
        email=email.strip(),
        token_sha256=token_digest(token),
    )
    activity_record(
        actor=None,
        actor_name="a member of the public",
        action=Action.OBJECT,
        obj=objection,
        project=project,
        new={"kind": kind, "status": objection.status, "text_sha256": _text_digest(text)},
    )
    # Never the text, the name or the email: the payload says only that one arrived.
    event_emit(event=EventKind.OBJECTION_RECEIVED, project=project, data={"objection_id": objection.pk, "kind": kind})
    notify(
        key=f"objection:{objection.pk}",
        recipients=admins(),
        kind=NotificationKind.OBJECTION,
        project=project,
        subject=f"New {objection.get_kind_display().lower()} #{objection.pk} about {project.title}",
        body=f"Sent from the public register on {objection.created_at:%Y-%m-%d %H:%M} UTC. Triage it.",
        url=reverse("objection-detail", kwargs={"pk": objection.pk}),
    )
    _mail_sender(
        email=objection.email,
        subject=f"Your {objection.get_kind_display().lower()} about {title}",
        body=(
            f"We received your {objection.get_kind_display().lower()} about “{title}”. "
            "Follow its progress, the board's decision and any published responses at this link "
            "(keep it: it is the only way back to your message):\n\n"
            f"{tracking_url(token)}\n"
        ),
    )
    return Sent(objection=objection, token=token)


def _claim(objection: Objection, *, allowed: Iterable[str], changes: dict[str, Any]) -> tuple[Objection, str]:
    """Apply `changes` only if the objection, read under a row lock, is still in one of
    `allowed` statuses; otherwise say what happened instead. Returns the row as it now is and
    the status it had, read under the lock (the caller's copy may be stale: its page was
    loaded before another administrator acted)."""
    locked = Objection.objects.select_for_update(of=("self",)).select_related("project").get(pk=objection.pk)
    if locked.status not in allowed:
        if locked.is_closed:
            when = f" on {locked.decided_at:%Y-%m-%d %H:%M} UTC" if locked.decided_at else ""
            raise ObjectionClosed(
                f"This {locked.get_kind_display().lower()} was {locked.get_status_display().lower()}{when}; "
                "a decided objection does not change."
            )
        raise TransitionConflict(
            f"This {locked.get_kind_display().lower()} is now “{locked.get_status_display()}”; "
            "nothing was changed. Reload the page and check before acting."
        )
    before = locked.status
    Objection.objects.filter(pk=locked.pk).update(**changes)
    return Objection.objects.select_related("project").get(pk=locked.pk), before


def _log(*, actor: User, objection: Objection, step: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    activity_record(
        actor=actor,
        action=Action.TRIAGE,
        obj=objection,
        project=objection.project,
        old=old,
        new={"step": step, **new},
    )


def _tell_sender_status(objection: Objection) -> None:
    if not objection.email:
        return
    title = public_title(objection.project_id)
    _mail_sender(
        email=objection.email,
        subject=f"Your {objection.get_kind_display().lower()} about {title}: {objection.get_status_display().lower()}",
        body=(
            f"Your {objection.get_kind_display().lower()} about “{title}” is now: "
            f"{objection.get_status_display()}.\n\nSee the details with the tracking link we sent you "
            "when you wrote to us."
        ),
    )


@transaction.atomic
def objection_acknowledge(*, actor: User, objection: Objection) -> Objection:
    current, before = _claim(
        objection, allowed=[ObjectionStatus.RECEIVED], changes={"status": ObjectionStatus.ACKNOWLEDGED}
    )
    _log(
        actor=actor,
        objection=current,
        step="acknowledge",
        old={"status": before},
        new={"status": current.status},
    )
    _tell_sender_status(current)
    return current


@transaction.atomic
def objection_ask_researcher(*, actor: User, objection: Objection) -> Objection:
    """Ask the project's researcher to respond; they are notified with a link to the response page."""
    current, before = _claim(
        objection,
        allowed=[ObjectionStatus.RECEIVED, ObjectionStatus.ACKNOWLEDGED],
        changes={"status": ObjectionStatus.AWAITING_RESEARCHER},
    )
    _log(actor=actor, objection=current, step="ask_researcher", old={"status": before}, new={"status": current.status})
    project = current.project
    notify(
        key=f"objection-ask:{current.pk}",
        recipients=[project.owner],
        kind=NotificationKind.OBJECTION,
        project=project,
        subject=f"The board asks you to respond to a {current.get_kind_display().lower()} about {project.title}",
        body="Someone wrote about your project on the public register. Read it and write your response; "
        "the board publishes it on the register.",
        url=reverse("objection-respond", kwargs={"pk": project.pk, "objection_pk": current.pk}),
    )
    _tell_sender_status(current)
    return current


def _open_objection(objection: Objection) -> Objection:
    """For steps that do not change the status: the objection, locked, and still open."""
    current = Objection.objects.select_for_update(of=("self",)).select_related("project").get(pk=objection.pk)
    if current.is_closed:
        raise ObjectionClosed(
            f"This {current.get_kind_display().lower()} was {current.get_status_display().lower()}; "
            "a decided objection does not change."
        )
    return current


@transaction.atomic
def objection_publish_text(*, actor: User, objection: Objection, publish: bool) -> Objection:
    """Show (or hide) the objection's text on the register; never the sender's name or email."""
    current = _open_objection(objection)
    if current.publish_text == publish:
        return current
    Objection.objects.filter(pk=current.pk).update(publish_text=publish)
    _log(
        actor=actor,
        objection=current,
        step="publish_text" if publish else "unpublish_text",
        old={"publish_text": current.publish_text},
        new={"publish_text": publish},
    )
    current.publish_text = publish
    return current


def _write_response(*, actor: User, objection: Objection, by: str, text: str, publish: bool) -> ObjectionResponse:
    text = text.strip()
    if not text:
        raise ValueError("Write the response.")
    now = timezone.now()
    response = ObjectionResponse.objects.create(
        objection=objection, by=by, author=actor, text=text, created_at=now, published_at=now if publish else None
    )
    _log(
        actor=actor,
        objection=objection,
        step=f"{by}_response",
        old={},
        new={"response": response.pk, "text": text, "published": publish},
    )
    return response


@transaction.atomic
def objection_board_respond(*, actor: User, objection: Objection, text: str) -> ObjectionResponse:
    """The board's own answer, published on the register at once."""
    current = _open_objection(objection)
    return _write_response(actor=actor, objection=current, by=ObjectionResponse.By.BOARD, text=text, publish=True)


@transaction.atomic
def objection_researcher_respond(*, actor: User, objection: Objection, text: str) -> ObjectionResponse:
    """The researcher's response, when the board asked for it. The board reads it first and
    publishes it (a researcher's words about a public objection are the board's to show)."""
    current = _open_objection(objection)
    if not rules.has_perm("public.respond_objection", actor, current):
        raise PermissionError("Only the project's researcher responds to an objection about it.")
    if current.status != ObjectionStatus.AWAITING_RESEARCHER:
        raise TransitionConflict("The board has not asked you to respond to this one (or no longer waits for it).")
    response = _write_response(
        actor=actor, objection=current, by=ObjectionResponse.By.RESEARCHER, text=text, publish=False
    )
    notify(
        key=f"objection-responded:{response.pk}",
        recipients=admins(),
        kind=NotificationKind.OBJECTION,
        project=current.project,
        subject=f"{actor.display_name} responded to {current.get_kind_display().lower()} #{current.pk}",
        body="Read the response and publish it on the register, or decide.",
        url=reverse("objection-detail", kwargs={"pk": current.pk}),
    )
    return response


@transaction.atomic
def objection_response_publish(*, actor: User, objection: Objection, response_pk: int) -> ObjectionResponse:
    current = _open_objection(objection)
    updated = ObjectionResponse.objects.filter(pk=response_pk, objection=current, published_at__isnull=True).update(
        published_at=timezone.now()
    )
    response = ObjectionResponse.objects.filter(pk=response_pk, objection=current).first()
    if response is None:
        raise ValueError("No such response to this objection.")
    if not updated:
        raise TransitionConflict("This response is already published; nothing was changed.")
    _log(
        actor=actor,
        objection=current,
        step="publish_response",
        old={"response": response.pk, "published": False},
        new={"response": response.pk, "published": True},
    )
    return response


def _decide(*, actor: User, objection: Objection, status: str, remedy: str, reason: str, **logged: Any) -> Objection:
    now = timezone.now()
    current, before = _claim(
        objection,
        allowed=OPEN_OBJECTION_STATUSES,
        changes={"status": status, "remedy": remedy, "decision_reason": reason, "decided_at": now, "decided_by": actor},
    )
    _log(
        actor=actor,
        objection=current,
        step="uphold" if status == ObjectionStatus.UPHELD else "dismiss",
        old={"status": before},
        new={"status": status, "remedy": remedy, "reason": reason, **logged},
    )
    _tell_sender_status(current)
    return current


# Said on the objection (its decision, which the sender and the register read) and in the log
# when the amendment remedy finds an amendment already open: that amendment answers it.
OPEN_AMENDMENT_NOTE = (
    "An amendment of this project was already open when the objection was upheld; "
    "that amendment answers it, and its review decides."
)


@transaction.atomic
def objection_uphold(*, actor: User, objection: Objection, remedy: str, reason: str) -> Objection:
    """Uphold: the objection closes and its remedy takes effect in the same transaction (an
    amendment opened, or the approval suspended); if the project cannot take it, nothing changes.

    The register invites objections while an amendment is open too. The amendment remedy then
    changes no status: the open amendment answers it, as the decision and the log say. A
    suspension is refused while an amendment's round is under review (project_suspend says why).
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the objection is upheld: the sender and the register read it.")
    if remedy not in Remedy.values:
        raise ValueError("Choose the remedy: an amendment or a suspension of the approval.")
    project = lock_project(objection.project_id)
    already_open = remedy == Remedy.AMENDMENT and project.status in AMENDMENT_STATUSES
    current = _decide(
        actor=actor,
        objection=objection,
        status=ObjectionStatus.UPHELD,
        remedy=remedy,
        reason=f"{reason}\n\n{OPEN_AMENDMENT_NOTE}" if already_open else reason,
        **({"answered_by_open_amendment": True, "project_status": project.status} if already_open else {}),
    )
    why = f"{current.get_kind_display()} #{current.pk} upheld: {reason}"
    if remedy == Remedy.AMENDMENT:
        if not already_open:
            project_amend(actor=actor, project=project, reason=why)
        notify(
            key=f"objection-amend:{current.pk}",
            recipients=[project.owner],
            kind=NotificationKind.OBJECTION,
            project=project,
            subject=f"{project.title}: an amendment is required",
            body=f"{why}\n\n"
            + (
                "Your amendment, already open, must answer it: change what the decision asks before its review "
                "decides (or in the changes the reviewers request)."
                if already_open
                else "The checklist is open again: change what the decision asks, then submit. "
                "The next round is reviewed again."
            ),
            url=reverse("project-detail", kwargs={"pk": project.pk}),
        )
    else:
        project_suspend(actor=actor, project=project, reason=why)
    return current


@transaction.atomic
def objection_dismiss(*, actor: User, objection: Objection, reason: str) -> Objection:
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the objection is dismissed: the sender and the register read it.")
    return _decide(actor=actor, objection=objection, status=ObjectionStatus.DISMISSED, remedy="", reason=reason)
