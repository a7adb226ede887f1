"""Every URL as every role, against a table of expected answers (SECURITY.md, "Access").

The table below is the access contract of the app. A URL added to reviews.urls or audits.urls
(or a new URL module added to config.urls) without a row here fails
`test_every_url_is_in_the_table`.

Each cell is what one role gets for one method: a status code, a redirect to a named page
(`LOGIN` is the login page with `?next=`), or `V(draft, submitted)` where the answer depends
on whether the owner's project is still a draft or has been submitted (round 1 frozen).
POSTs carry valid data, so a refusal is the permission check and not a form error; each
request runs in a savepoint that is rolled back, so the roles see the same world in turn.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from pydicom.data import get_testdata_file

from audits.enums import RunStatus, SetRole
from audits.models import AuditConfig, AuditRun, ImageFile, ImageSet
from reviews.enums import AnswerStatus, ExpertiseKind, OverclaimFinding, ProjectStatus, Role, Verdict
from reviews.models import (
    ActivityEntry,
    Answer,
    Assignment,
    AuditWaiver,
    EvidenceFile,
    GuidelineItem,
    GuidelineVersion,
    ItemReview,
    Notification,
    Project,
    Round,
    RoundOutcome,
    RoundReview,
    Signature,
    User,
)
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.catalogue import catalogue_load
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import VerdictInput, round_review_save
from reviews.validators import validate_evidence_file
from tests.factories import (
    PASSWORD,
    AdminFactory,
    ProjectFactory,
    ResearcherFactory,
    ReviewerFactory,
    project_fields,
)
from tests.workflow import attach_evidence

ROLES = ("anonymous", "owner", "other", "reviewer", "invited", "assigned", "admin")
OUTSIDERS = ("anonymous", "other", "reviewer")  # may see nothing of the owner's projects
# On the submitted project: "invited" has an invitation it has not answered (it may read the
# title and summary, to decide and declare conflicts, and nothing else); "assigned" accepted
# with no conflict and reviews it. The draft has no reviewers: both are outsiders there.
VARIANTS = ("draft", "submitted")


@dataclass(frozen=True)
class Redirect:
    """A 302 to a named URL; for the login page the original URL must travel in `next`."""

    name: str

    def __str__(self) -> str:
        return f"302->{self.name}"


@dataclass(frozen=True)
class V:
    """An answer that depends on the variant: the owner's project as a draft, or submitted."""

    draft: Any
    submitted: Any


LOGIN = Redirect("login")
HOME = Redirect("home")
INVITATION = Redirect("assignment-respond")  # the invitation of the project asked for


_SAME = object()


def per_role(
    anonymous: Any, owner: Any, other: Any, reviewer: Any, admin: Any, *, invited: Any = _SAME, assigned: Any = _SAME
) -> dict[str, Any]:
    """Invited and assigned reviewers answer like the unassigned one unless a cell says otherwise."""
    return {
        "anonymous": anonymous,
        "owner": owner,
        "other": other,
        "reviewer": reviewer,
        "invited": reviewer if invited is _SAME else invited,
        "assigned": reviewer if assigned is _SAME else assigned,
        "admin": admin,
    }


# ---------------------------------------------------------------------------------------
# Test data


@dataclass
class World:
    catalogue: GuidelineVersion
    users: dict[str, User | None]
    projects: dict[str, Project]  # variant -> the owner's project
    evidence: dict[str, EvidenceFile]  # variant -> the evidence file of that project
    markers: dict[str, bytes]  # variant -> the evidence file's content
    item_code: str  # the answered item that carries the evidence
    foreign_project: Project  # another researcher's project, with its own file
    foreign_evidence: EvidenceFile
    image_sets: dict[str, ImageSet] = field(default_factory=dict)  # variant -> its synthetic set
    image_files: dict[str, ImageFile] = field(default_factory=dict)  # variant -> that set's one DICOM
    runs: dict[str, AuditRun] = field(default_factory=dict)  # variant -> a finished audit run
    secrets: list[str] = field(default_factory=list)  # what no outsider may ever read
    secrets_by_variant: dict[str, list[str]] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)  # role -> its assignment on "submitted"
    # What the rows of other apps (tests/<app>/access_rows.py) build once, on first use, keyed by their name.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def owner(self) -> User:
        owner = self.users["owner"]
        assert owner is not None
        return owner


def answer_all_required(project: Project, *, file_name: str, content: bytes, only_first: bool = False) -> EvidenceFile:
    """Answer every required item 'met' (or only the first); the first one carries an evidence file."""
    items = list(
        GuidelineItem.objects.filter(version=project.guideline_version_id, required=True).order_by(
            "stage__order", "order"
        )
    )
    if only_first:
        items = items[:1]
    upload = SimpleUploadedFile(file_name, content, content_type="text/plain")
    answer_save(
        actor=project.owner,
        project=project,
        item=items[0],
        status=AnswerStatus.MET,
        justification="",
        evidence_text="The attached file is the evidence.",
        files=[validate_evidence_file(upload)],
    )
    for item in items[1:]:
        answer_save(
            actor=project.owner, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text=""
        )
    return EvidenceFile.objects.get(answer__project=project)


CT_SMALL = get_testdata_file("CT_small.dcm", download=False)


def add_audit_evidence(project: Project, tag: str) -> tuple[ImageSet, ImageFile, AuditRun]:
    """A synthetic set with one real DICOM in private storage, and a finished run over it."""
    image_set = ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=project.owner, digest="f" * 64, n_files=1, n_accepted=1,
        n_images=1,
    )  # fmt: skip
    content = Path(CT_SMALL).read_bytes()
    image_file = ImageFile(
        image_set=image_set, name=f"synthetic/secret-scan-{tag}.dcm", size=len(content), sha256="a" * 64,
        format="dicom", width=128, height=128, slices=1,
    )  # fmt: skip
    image_file.stored.save("scan", ContentFile(content), save=True)
    summary = f"SECRET-SUMMARY-{tag}: 1 of 1 synthetic images is a probable copy."
    results = {
        audit: {"audit": audit, "status": "warn", "summary": summary, "metrics": {}, "thresholds": {}, "flagged": [],
                "charts": {}, "caveats": [], "inputs": {}, "params": {}, "code_version": "1.0.0", "timings": {}}
        for audit in ("disclosure", "privacy", "memorization", "fidelity", "representation", "manifest")
    }  # fmt: skip
    now = timezone.now()
    run = AuditRun.objects.create(
        project=project, status=RunStatus.SUCCEEDED, reason="synthetic set uploaded", input_digest="0" * 64,
        results=results, started_at=now, finished_at=now, progress=100,
    )  # fmt: skip
    run.sets.set([image_set])
    return image_set, image_file, run


def first_required_code(version: GuidelineVersion) -> str:
    item = GuidelineItem.objects.filter(version=version, required=True).order_by("stage__order", "order").first()
    assert item is not None
    return item.code


def build_world_once() -> World:
    """The world with the catalogue and the people of tests/conftest.py's fixtures, for a fixture
    that builds it once per module inside a transaction it rolls back at the end."""
    catalogue, _ = catalogue_load()
    researcher = ResearcherFactory(full_name="Rosa Researcher")
    draft = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Secret brain MRI project")
    other = ResearcherFactory(full_name="Otto Other")
    reviewer, admin = ReviewerFactory(full_name="Rita Reviewer"), AdminFactory(full_name="Ada Admin")
    return build_world(catalogue, researcher, other, reviewer, admin, draft)


@pytest.fixture(scope="module")
def module_world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """Built once for the module (about 2 s a build, 130 tests): each request of a walk runs in a
    savepoint that is rolled back, and each test in a transaction of its own, rolled back too."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world_once()
        transaction.set_rollback(True)


@pytest.fixture
def world(module_world: World, db: None) -> World:
    module_world.extras.clear()  # what the rows built in an earlier test went with its transaction
    return module_world


def build_world(
    catalogue: GuidelineVersion,
    researcher: User,
    other_researcher: User,
    reviewer: User,
    admin_user: User,
    project: Project,
) -> World:
    """The world of the table (also built once per module by the API's table, tests/api/test_access.py)."""
    invited = ReviewerFactory(full_name="Ivy Invited", expertise=ExpertiseKind.CLINICAL)
    assigned = ReviewerFactory(full_name="Axel Assigned", expertise=ExpertiseKind.TECHNICAL)
    tag = uuid.uuid4().hex
    submitted = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Secret submitted knee CT project")
    projects = {"draft": project, "submitted": submitted}
    markers = {variant: f"EVIDENCE-BYTES-{variant}-{tag}".encode() for variant in VARIANTS}
    evidence = {
        variant: answer_all_required(p, file_name=f"{variant}-evidence-{tag}.txt", content=markers[variant])
        for variant, p in projects.items()
    }
    project_submit(actor=researcher, project=submitted)
    submitted.refresh_from_db()
    assert submitted.status == ProjectStatus.SUBMITTED and submitted.rounds.filter(number=1).exists()

    foreign = ProjectFactory(owner=other_researcher, guideline_version=catalogue, title="Otto's own project")
    foreign_evidence = answer_all_required(foreign, file_name="otto.txt", content=b"OTTO-OWN-BYTES", only_first=True)

    audit_evidence = {variant: add_audit_evidence(p, f"{variant}-{tag}") for variant, p in projects.items()}

    # Round 1 of the submitted project: an unanswered invitation, and an accepted reviewer
    # who has submitted their review (so that signing is the next step).
    assignments = {
        role: assignment_create(actor=admin_user, project=submitted, reviewer=user)
        for role, user in (("invited", invited), ("assigned", assigned))
    }
    assignment_respond(actor=assigned, project=submitted, accept=True)
    round_one = submitted.rounds.get(number=1)
    items = GuidelineItem.objects.filter(version=catalogue)
    round_review_save(
        actor=assigned,
        round_=round_one,
        verdicts=[VerdictInput(item=item, verdict=Verdict.ACCEPTABLE, comment="") for item in items],
        declared_phase=1,
        overclaim=OverclaimFinding.WITHIN,
        overclaim_note="",
        submit=True,
    )

    secrets_by_variant = {
        variant: [
            projects[variant].title,
            markers[variant].decode(),
            evidence[variant].original_name,
            audit_evidence[variant][1].name,
            audit_evidence[variant][2].results["privacy"]["summary"],
        ]
        for variant in VARIANTS
    }
    secrets = [secret for variant in VARIANTS for secret in secrets_by_variant[variant]]
    return World(
        catalogue=catalogue,
        users={
            "anonymous": None,
            "owner": researcher,
            "other": other_researcher,
            "reviewer": reviewer,
            "invited": invited,
            "assigned": assigned,
            "admin": admin_user,
        },
        projects=projects,
        evidence=evidence,
        markers=markers,
        item_code=first_required_code(catalogue),
        foreign_project=foreign,
        foreign_evidence=foreign_evidence,
        image_sets={variant: image_set for variant, (image_set, _, _) in audit_evidence.items()},
        image_files={variant: image_file for variant, (_, image_file, _) in audit_evidence.items()},
        runs={variant: run for variant, (_, _, run) in audit_evidence.items()},
        secrets=secrets,
        secrets_by_variant=secrets_by_variant,
        assignments=assignments,
    )


# ---------------------------------------------------------------------------------------
# The table


def _no_kwargs(w: World, p: Project) -> dict[str, Any]:
    return {}


def _pk(w: World, p: Project) -> dict[str, Any]:
    return {"pk": p.pk}


def _no_data(w: World) -> dict[str, Any]:
    return {}


def _round_one(w: World, p: Project) -> dict[str, Any]:
    return {"pk": p.pk, "number": 1}


def _in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def _run_kwargs(w: World, p: Project) -> dict[str, Any]:
    return {"pk": p.pk, "run_pk": w.runs[_variant_of(w, p)].pk}


@dataclass(frozen=True)
class Row:
    get: dict[str, Any]
    post: dict[str, Any] | None = None
    kwargs: Callable[[World, Project], dict[str, Any]] = _no_kwargs
    data: Callable[[World], dict[str, Any]] = _no_data
    project_scoped: bool = False  # walk it for both variants of the owner's project


def _owner_row(get: dict[str, Any], post: dict[str, Any] | None = None, **kwargs: Any) -> Row:
    return Row(get=get, post=post, project_scoped=True, **kwargs)


TABLE: dict[str, Row] = {
    "home": Row(get=per_role(200, 200, 200, 200, 200)),
    "register": Row(
        get=per_role(200, HOME, HOME, HOME, HOME),
        post=per_role(Redirect("project-list"), HOME, HOME, HOME, HOME),
        data=lambda w: {
            "username": "newcomer",
            "full_name": "New Comer",
            "email": "newcomer@example.org",
            "affiliation": "Somewhere",
            "password1": "a-fresh-passphrase-91",
            "password2": "a-fresh-passphrase-91",
        },
    ),
    "login": Row(
        get=per_role(200, HOME, HOME, HOME, HOME),
        post=per_role(HOME, HOME, HOME, HOME, HOME),
        data=lambda w: {"username": w.owner.username, "password": PASSWORD},
    ),
    # Django's LogoutView takes POST only; logging out is harmless for anyone.
    "logout": Row(get=per_role(405, 405, 405, 405, 405), post=per_role(HOME, HOME, HOME, HOME, HOME)),
    "password-change": Row(
        get=per_role(LOGIN, 200, 200, 200, 200),
        post=per_role(LOGIN, HOME, HOME, HOME, HOME),
        data=lambda w: {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-42",
            "new_password2": "a-new-long-passphrase-42",
        },
    ),
    # Password reset: the same answer for every address (no user enumeration), and someone
    # signed in changes their password instead; a link with a wrong token shows "this link
    # no longer works" and changes nothing.
    "password-reset": Row(
        get=per_role(200, *[Redirect("password-change")] * 4),
        post=per_role(Redirect("password-reset-done"), *[Redirect("password-change")] * 4),
        data=lambda w: {"email": w.owner.email},
    ),
    "password-reset-done": Row(get=per_role(200, 200, 200, 200, 200)),
    "password-reset-confirm": Row(
        get=per_role(200, 200, 200, 200, 200),
        post=per_role(200, 200, 200, 200, 200),
        kwargs=lambda w, p: {"uidb64": "MQ", "token": "not-a-token"},
        data=lambda w: {"new_password1": "a-new-long-passphrase-42", "new_password2": "a-new-long-passphrase-42"},
    ),
    "password-reset-complete": Row(get=per_role(200, 200, 200, 200, 200)),
    # Email confirmation: a forged link confirms nothing; everyone in the world is confirmed already.
    "email-verify": Row(
        get=per_role(200, 200, 200, 200, 200),
        post=per_role(400, 400, 400, 400, 400),
        kwargs=lambda w, p: {"token": "forged-token"},
    ),
    "email-verify-resend": Row(get=per_role(LOGIN, 405, 405, 405, 405), post=per_role(LOGIN, HOME, HOME, HOME, HOME)),
    "project-list": Row(get=per_role(LOGIN, 200, 200, 200, 200)),
    "project-new": Row(
        get=per_role(LOGIN, 200, 200, 403, 403),
        post=per_role(LOGIN, 302, 302, 403, 403),
        data=lambda w: project_fields(),
    ),
    # An invited reviewer is sent to the invitation, to answer it before seeing any material.
    "project-detail": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, invited=V(404, INVITATION), assigned=V(404, 200)), kwargs=_pk
    ),
    "project-edit": _owner_row(
        get=per_role(LOGIN, V(200, 403), 404, 404, 403, assigned=V(404, 403)),
        post=per_role(LOGIN, V(302, 403), 404, 404, 403, assigned=V(404, 403)),
        kwargs=_pk,
        data=lambda w: project_fields(),
    ),
    "project-checklist": _owner_row(get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)), kwargs=_pk),
    "answer-edit": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),
        post=per_role(LOGIN, V(302, 403), 404, 404, 403, assigned=V(404, 403)),
        kwargs=lambda w, p: {"pk": p.pk, "code": w.item_code},
        data=lambda w: {"status": "partly_met", "justification": "", "evidence_text": "Changed."},
    ),
    "evidence-download": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),
        kwargs=lambda w, p: {"pk": p.pk, "evidence_pk": w.evidence[_variant_of(w, p)].pk},
    ),
    # require_POST answers a GET with 405 before any lookup, so it reveals nothing.
    "evidence-delete": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405),
        post=per_role(LOGIN, V(302, 403), 404, 404, 403, assigned=V(404, 403)),
        kwargs=lambda w, p: {"pk": p.pk, "evidence_pk": w.evidence[_variant_of(w, p)].pk},
    ),
    "project-submit": _owner_row(
        get=per_role(LOGIN, V(200, 403), 404, 404, 403, assigned=V(404, 403)),
        post=per_role(LOGIN, V(302, 403), 404, 404, 403, assigned=V(404, 403)),
        kwargs=_pk,
    ),
    # The draft has no round yet: 404 for everyone; round 1 of the submitted project exists.
    "round-detail": _owner_row(
        get=per_role(LOGIN, V(404, 200), 404, 404, V(404, 200), assigned=V(404, 200)),
        kwargs=_round_one,
    ),
    "project-history": _owner_row(get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)), kwargs=_pk),
    "catalogue-list": Row(get=per_role(LOGIN, 200, 200, 200, 200)),
    "catalogue-detail": Row(get=per_role(LOGIN, 200, 200, 200, 200), kwargs=lambda w, p: {"pk": w.catalogue.pk}),
    "user-list": Row(get=per_role(LOGIN, 403, 403, 403, 200)),
    "user-new": Row(
        get=per_role(LOGIN, 403, 403, 403, 200),
        post=per_role(LOGIN, 403, 403, 403, Redirect("user-list")),
        data=lambda w: {
            "username": "newreviewer",
            "full_name": "New Reviewer",
            "email": "newreviewer@example.org",
            "affiliation": "Elsewhere",
            "role": Role.REVIEWER,
            "expertise": "clinical",
        },
    ),
    "user-edit": Row(
        get=per_role(LOGIN, 403, 403, 403, 200),
        post=per_role(LOGIN, 403, 403, 403, Redirect("user-list")),
        kwargs=lambda w, p: {"pk": w.owner.pk},
        data=lambda w: {
            "full_name": w.owner.full_name,
            "email": w.owner.email,
            "affiliation": "A new affiliation",
            "role": Role.RESEARCHER,
            "expertise": "",
            "is_active": "on",
        },
    ),
    "user-approve": Row(
        get=per_role(LOGIN, 405, 405, 405, 405),
        post=per_role(LOGIN, 403, 403, 403, Redirect("user-list")),
        kwargs=lambda w, p: {"pk": w.owner.pk},
    ),
    # Audits (audits.urls). Reviewers see nothing until assignments exist, like the project itself.
    # Running the audits is for the owner and admins in every project state; setting thresholds
    # too, but only while the project is editable (they are frozen with the round once it is
    # submitted); uploading a set changes the project, so it is the owner's, and only while editable.
    "audits-overview": _owner_row(get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)), kwargs=_pk),
    "imageset-upload": _owner_row(
        get=per_role(LOGIN, V(200, 403), 404, 404, 403, assigned=V(404, 403)),
        post=per_role(LOGIN, V(302, 403), 404, 404, 403, assigned=V(404, 403)),
        kwargs=_pk,
        data=lambda w: {
            "role": SetRole.HOLDOUT,
            "files": SimpleUploadedFile("held-out.dcm", Path(CT_SMALL).read_bytes(), content_type="application/dicom"),
        },
    ),
    "imageset-detail": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),
        kwargs=lambda w, p: {"pk": p.pk, "set_pk": w.image_sets[_variant_of(w, p)].pk},
    ),
    "imageset-status": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),
        kwargs=lambda w, p: {"pk": p.pk, "set_pk": w.image_sets[_variant_of(w, p)].pk},
    ),
    # require_POST answers a GET with 405 before any lookup, so it reveals nothing.
    "audit-run-start": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405),
        post=per_role(LOGIN, 302, 404, 404, 302, assigned=V(404, 403)),
        kwargs=_pk,
    ),
    "audit-thresholds": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),  # reviewers read the thresholds
        post=per_role(LOGIN, V(302, 403), 404, 404, V(302, 403), assigned=V(404, 403)),
        kwargs=_pk,
        data=lambda w: {"disclosure__warn_fraction": "0.9"},
    ),
    "audit-run": _owner_row(get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)), kwargs=_run_kwargs),
    "audit-run-status": _owner_row(get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)), kwargs=_run_kwargs),
    "audit-result": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),
        kwargs=lambda w, p: {**_run_kwargs(w, p), "audit": "privacy"},
    ),
    "image-thumbnail": _owner_row(
        get=per_role(LOGIN, 200, 404, 404, 200, assigned=V(404, 200)),
        kwargs=lambda w, p: {"pk": p.pk, "file_pk": w.image_files[_variant_of(w, p)].pk, "index": 0},
    ),
    # The review workflow (issue 4). Draft projects have no round and no reviewers.
    "project-withdraw": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(LOGIN, 302, 404, 404, 403, assigned=V(404, 403)),
        kwargs=_pk,
        data=lambda w: {"reason": "The study was stopped."},
    ),
    # Only an approved project opens an amendment; neither of these is approved.
    "project-amend": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(LOGIN, 403, 404, 404, 403, assigned=V(404, 403)),
        kwargs=_pk,
    ),
    "assignment-list": _owner_row(
        get=per_role(LOGIN, 403, 404, 404, V(403, 200), assigned=V(404, 403)),
        post=per_role(LOGIN, 403, 404, 404, V(403, 302), assigned=V(404, 403)),
        kwargs=_pk,
        data=lambda w: {"reviewer": w.users["reviewer"].pk, "due_date": _in_days(14)},  # type: ignore[union-attr]
    ),
    "assignment-remove": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(LOGIN, 403, 404, 404, V(403, 302), assigned=V(404, 403)),
        kwargs=lambda w, p: {"pk": p.pk, "assignment_pk": w.assignments["invited"].pk},
        data=lambda w: {"reason": "No answer after two weeks."},
    ),
    # The invitation: the invited reviewer answers it; the accepted one sees their answer.
    "assignment-respond": _owner_row(
        get=per_role(LOGIN, 404, 404, 404, 404, invited=V(404, 200), assigned=V(404, 200)),
        post=per_role(LOGIN, 404, 404, 404, 404, invited=V(404, 302), assigned=V(404, 302)),
        kwargs=_pk,
        data=lambda w: {"decision": "accept", "conflict": "none", "conflict_statement": ""},
    ),
    "conflict-declare": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(LOGIN, 403, 404, 404, 403, assigned=V(404, 302)),
        kwargs=_pk,
        data=lambda w: {"statement": "I co-authored a paper with the researcher last year."},
    ),
    # The assigned reviewer already submitted their review of round 1: it cannot change (409).
    "round-review": _owner_row(
        get=per_role(LOGIN, V(404, 403), 404, 404, V(404, 200), assigned=V(404, 200)),
        post=per_role(LOGIN, V(404, 403), 404, 404, V(404, 403), assigned=V(404, 409)),
        kwargs=_round_one,
        data=lambda w: {"action": "save", "declared_phase": "1", "overclaim": "within"},
    ),
    # The review page's autosave (issue 10): the assigned reviewer already submitted, so there
    # is no draft to keep (409); nobody else may write a reviewer's draft.
    "review-draft": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(LOGIN, 403, 404, 404, 403, assigned=V(404, 409)),
        kwargs=_round_one,
        data=lambda w: {"verdict_PF-1": "acceptable", "declared_phase": "1"},
    ),
    # Round 1 froze no image set, so every audit is uncomputable and may be waived.
    "audit-waive": _owner_row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(LOGIN, 403, 404, 404, 403, assigned=V(404, 302)),
        kwargs=lambda w, p: {**_round_one(w, p), "audit": "privacy"},
        data=lambda w: {"waive-privacy-reason": "No images in this round; judged on the written evidence."},
    ),
    "round-diff": _owner_row(
        get=per_role(LOGIN, V(404, 200), 404, 404, V(404, 200), assigned=V(404, 200)),
        kwargs=_round_one,
    ),
    "round-sign": _owner_row(
        get=per_role(LOGIN, V(404, 403), 404, 404, V(404, 403), assigned=V(404, 200)),
        post=per_role(LOGIN, V(404, 403), 404, 404, V(404, 403), assigned=V(404, 302)),
        kwargs=_round_one,
        data=lambda w: {
            "meaning": "request_changes",
            "statement": "Show the memorization audit on the real training set.",
            "digest": w.projects["submitted"].rounds.get(number=1).digest,
            "password": PASSWORD,
        },
    ),
    "my-reviews": Row(get=per_role(LOGIN, 200, 200, 200, 200)),
    "notification-list": Row(get=per_role(LOGIN, 200, 200, 200, 200)),
    "notification-read": Row(
        get=per_role(LOGIN, 405, 405, 405, 405, invited=405, assigned=405),
        post=per_role(
            LOGIN,
            Redirect("notification-list"),
            Redirect("notification-list"),
            Redirect("notification-list"),
            Redirect("notification-list"),
        ),
    ),
    # Django's admin sends non-staff users to its own login page.
    "admin:index": Row(
        get=per_role(
            Redirect("admin:login"), Redirect("admin:login"), Redirect("admin:login"), Redirect("admin:login"), 200
        )
    ),
}


# Each app beyond reviews and audits keeps its rows beside its tests, in tests/<app>/access_rows.py
# (ROWS, built with Row and per_role from here); the table is theirs and the one above together.
ROW_MODULES = (
    "tests.reviews.access_rows_catalogue",
    "tests.reviews.access_rows_lists",
    "tests.letters.access_rows",
    "tests.oversight.access_rows",
    "tests.public.access_rows",
    "tests.public.access_rows_objections",
    "tests.api.access_rows",
    "tests.webhooks.access_rows",
)
for _module in ROW_MODULES:
    _rows = importlib.import_module(_module).ROWS
    assert not set(_rows) & set(TABLE), f"{_module} repeats rows of the table: {sorted(set(_rows) & set(TABLE))}"
    TABLE.update(_rows)


def _variant_of(w: World, p: Project) -> str:
    return next(variant for variant, candidate in w.projects.items() if candidate.pk == p.pk)


# ---------------------------------------------------------------------------------------
# The walk


def _client(user: User | None, **defaults: Any) -> Client:
    client = Client(**defaults)
    if user is not None:
        client.force_login(user)
    return client


def _body(response: HttpResponseBase) -> bytes:
    if getattr(response, "streaming", False):
        # The test client closes the response once it is read to the end.
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return bytes(response.content)  # type: ignore[attr-defined]


def _state() -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "projects": list(Project.objects.order_by("pk").values()),
        "answers": list(Answer.objects.order_by("pk").values("pk", "status", "justification", "evidence_text")),
        "files": list(EvidenceFile.objects.order_by("pk").values_list("pk", "file", "sha256")),
        "rounds": Round.objects.count(),
        "activity": ActivityEntry.objects.count(),
        "users": list(User.objects.order_by("pk").values(*_USER_COLUMNS)),
        "image_sets": list(ImageSet.objects.order_by("pk").values_list("pk", "is_current")),
        "image_files": ImageFile.objects.count(),
        "audit_runs": list(AuditRun.objects.order_by("pk").values_list("pk", "status")),
        "audit_configs": list(AuditConfig.objects.order_by("pk").values_list("pk", "params")),
        "assignments": list(Assignment.objects.order_by("pk").values_list("pk", "status", "has_conflict")),
        "reviews": list(RoundReview.objects.order_by("pk").values_list("pk", "submitted_at", "overclaim")),
        "verdicts": list(ItemReview.objects.order_by("pk").values_list("pk", "verdict", "comment")),
        "waivers": AuditWaiver.objects.count(),
        "signatures": Signature.objects.count(),
        "outcomes": RoundOutcome.objects.count(),
        "notifications": list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
    }


_USER_COLUMNS = (
    "pk", "username", "password", "full_name", "email", "affiliation", "role", "expertise", "is_active",
    "email_verified_at", "approved_at",
)  # fmt: skip


@dataclass
class Outcome:
    response: HttpResponseBase
    body: bytes
    changed: bool


def _request(user: User | None, method: str, url: str, data: dict[str, Any]) -> Outcome:
    """One request in a savepoint that is rolled back: the next role sees the same world."""
    client = _client(user)
    with transaction.atomic():
        before = _state()
        response = client.get(url) if method == "GET" else client.post(url, data)
        body = _body(response)
        changed = _state() != before
        transaction.set_rollback(True)
    return Outcome(response, body, changed)


def _refused(expected: Any) -> bool:
    return expected == LOGIN or expected in (403, 404, 405)


def _answer_problems(response: HttpResponseBase, expected: Any, url: str, project_pk: int | None) -> list[str]:
    if isinstance(expected, Redirect):
        location = response.get("Location", "")
        target = urlsplit(location)
        kwargs = {"pk": project_pk} if expected is INVITATION else {}
        if response.status_code != 302 or target.path != reverse(expected.name, kwargs=kwargs):
            return [f"expected {expected}, got {response.status_code} {location}"]
        if expected is LOGIN and f"next={url}" not in location.replace("%2F", "/"):
            return [f"the login redirect lost the page asked for: {location}"]
        return []
    if response.status_code != expected:
        return [f"expected {expected}, got {response.status_code} {response.get('Location', '')}"]
    return []


def _header_problems(response: HttpResponseBase) -> list[str]:
    if not response.get("Content-Type", "").startswith("text/html"):
        return []
    csp = response.get("Content-Security-Policy", "")
    problems = []
    if not csp or "'unsafe-inline'" in csp:
        problems.append(f"bad Content-Security-Policy: {csp!r}")
    if response.get("X-Frame-Options") != "DENY":
        problems.append(f"X-Frame-Options is {response.get('X-Frame-Options')!r}")
    return problems


def _content_problems(w: World, name: str, role: str, method: str, variant: str, status: int, body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    if role in OUTSIDERS:
        return [f"leaks {secret!r}" for secret in w.secrets if secret in text]
    if role in ("invited", "assigned"):
        hidden = list(w.secrets_by_variant["draft"])
        if role == "invited":  # the invitation shows the title, and nothing else of the project
            hidden += w.secrets_by_variant["submitted"][1:]
        leaks = [f"leaks {secret!r}" for secret in hidden if secret in text]
        if leaks or not (role == "assigned" and variant == "submitted"):
            return leaks
    if status != 200 or method != "GET" or not TABLE[name].project_scoped:
        return []
    # The owner and an admin do see the project they were let into.
    if name == "evidence-download":
        return [] if body == w.markers[variant] else [f"served {body[:80]!r}, not the stored bytes"]
    if name == "image-thumbnail":
        return [] if body.startswith(b"\x89PNG\r\n\x1a\n") else [f"served {body[:16]!r}, not a PNG"]
    if name == "audit-run-status":
        state = json.loads(body)
        return [] if state.get("status") == RunStatus.SUCCEEDED else [f"unexpected status {state!r}"]
    if name == "imageset-status":
        state = json.loads(body)
        return [] if state.get("status") == "ready" and state.get("finished") else [f"unexpected status {state!r}"]
    return [] if w.projects[variant].title in text else ["the page does not show the project"]


def _walk(w: World, name: str) -> list[str]:
    row = TABLE[name]
    problems = []
    for variant in VARIANTS if row.project_scoped else ("draft",):
        url = reverse(name, kwargs=row.kwargs(w, w.projects[variant]))
        methods = [("GET", row.get)] + ([("POST", row.post)] if row.post is not None else [])
        for method, expectations in methods:
            for role in ROLES:
                expected = expectations[role]
                if isinstance(expected, V):
                    expected = getattr(expected, variant)
                outcome = _request(w.users[role], method, url, row.data(w) if method == "POST" else {})
                response = outcome.response
                found = _answer_problems(response, expected, url, row.kwargs(w, w.projects[variant]).get("pk"))
                found += _header_problems(response)
                found += _content_problems(w, name, role, method, variant, response.status_code, outcome.body)
                if _refused(expected) and outcome.changed:
                    found.append("a refused request changed the database")
                problems += [f"{method} {url} as {role} ({variant}): {p}" for p in found]
    return problems


@pytest.mark.parametrize("name", sorted(TABLE))
def test_each_role_gets_the_expected_answer(world, name):
    problems = _walk(world, name)
    assert not problems, "\n".join(problems)


def _named_patterns(patterns: list[Any], namespace: str = "") -> list[str]:
    names = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names += _named_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            names.append(f"{namespace}{entry.name}" if entry.name else f"<unnamed {entry.pattern}>")
    return names


APP_URL_MODULES = (
    "reviews.urls",
    "audits.urls",
    "letters.urls",
    "oversight.urls",
    "public.urls",
    "api.urls_pages",
    "webhooks.urls",
)
# The REST API under /api/v1/ has its own table, walked with tokens (tests/api/test_access.py).
WALKED_ELSEWHERE = ("api.urls",)


def test_every_url_is_in_the_table():
    top = get_resolver().url_patterns
    app = [
        e for e in top if isinstance(e, URLResolver) and getattr(e.urlconf_module, "__name__", "") in APP_URL_MODULES
    ]
    admin = [e for e in top if isinstance(e, URLResolver) and e.namespace == "admin"]
    elsewhere = [
        e for e in top if isinstance(e, URLResolver) and getattr(e.urlconf_module, "__name__", "") in WALKED_ELSEWHERE
    ]
    assert len(app) == len(APP_URL_MODULES) and len(admin) == 1 and len(elsewhere) == len(WALKED_ELSEWHERE)
    unknown_modules = [str(e.pattern) for e in top if e not in app + admin + elsewhere]
    assert unknown_modules == [], "config.urls has URLs the access table does not walk"

    app_names = [name for module in app for name in _named_patterns(module.url_patterns)]
    assert len(app_names) == len(set(app_names)), "two URL patterns share a name"
    assert set(app_names) | {"admin:index"} == set(TABLE), (
        f"missing from the table: {sorted(set(app_names) - set(TABLE))}; "
        f"in the table but gone: {sorted(set(TABLE) - set(app_names) - {'admin:index'})}"
    )


# ---------------------------------------------------------------------------------------
# Lists


def test_each_user_lists_only_the_projects_they_may_see_newest_first(world, catalogue):
    """The list pages 50 at a time, so its order must be defined: the newest change first."""
    newest = ProjectFactory(owner=world.owner, guideline_version=catalogue, title="Newest project")
    expected_owner = [newest.title, world.projects["submitted"].title, world.projects["draft"].title]

    def titles(role: str) -> list[str]:
        response = _client(world.users[role]).get(reverse("project-list"))
        return [p.title for p in response.context["projects"]]

    assert titles("owner") == expected_owner
    assert titles("other") == [world.foreign_project.title]
    assert titles("reviewer") == []
    # Reviewers list the projects they are invited to or review, and nothing else.
    assert titles("invited") == titles("assigned") == [world.projects["submitted"].title]
    # The submitted project changed last (a reviewer accepted, and it went in review).
    assert titles("admin") == [newest.title, world.projects["submitted"].title, world.foreign_project.title,
                               world.projects["draft"].title]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Ids smuggled in URLs


@pytest.mark.parametrize("name", ["evidence-download", "evidence-delete"])
def test_evidence_of_another_project_under_the_owners_project_is_not_found(world, name):
    """The owner's project id with Otto's evidence id: the file is looked up inside the project."""
    url = reverse(name, kwargs={"pk": world.projects["draft"].pk, "evidence_pk": world.foreign_evidence.pk})
    client = _client(world.owner)
    response = client.get(url) if name == "evidence-download" else client.post(url)
    body = _body(response)

    assert response.status_code == 404
    assert b"OTTO-OWN-BYTES" not in body and b"otto.txt" not in body
    assert EvidenceFile.objects.filter(pk=world.foreign_evidence.pk).exists()
    assert world.foreign_evidence.file.storage.exists(world.foreign_evidence.file.name)


def test_evidence_of_the_owners_other_project_is_not_found_under_this_one(world):
    url = reverse(
        "evidence-download", kwargs={"pk": world.projects["draft"].pk, "evidence_pk": world.evidence["submitted"].pk}
    )
    response = _client(world.owner).get(url)
    assert response.status_code == 404
    assert world.markers["submitted"] not in _body(response)


@pytest.mark.parametrize(
    "path",
    [
        "/projects/99999999999999999999999999/",
        "/projects/99999999999999999999999999/evidence/1/",
        "/projects/{pk}/evidence/99999999999999999999999999/",
        "/projects/{pk}/rounds/99999999999999999999999999/",
        "/projects/{pk}/checklist/NO-SUCH-ITEM/",
        "/projects/{pk}/checklist/%3Cscript%3Ealert(1)%3C%2Fscript%3E/",
        "/projects/{pk}/audits/sets/99999999999999999999999999/",
        "/projects/{pk}/audits/runs/99999999999999999999999999/",
        "/projects/{pk}/audits/runs/99999999999999999999999999/status/",
        "/projects/{pk}/audits/runs/1/%3Cscript%3Ealert(1)%3C%2Fscript%3E/",
        "/projects/{pk}/audits/images/99999999999999999999999999/0/thumbnail.png",
        "/projects/{pk}/audits/images/1/99999999999999999999999999/thumbnail.png",
        "/catalogue/99999999999999999999999999/",
        "/staff/users/99999999999999999999999999/",
    ],
)
def test_absurd_ids_in_urls_are_not_found(project, admin_user, path):
    response = _client(admin_user).get(path.format(pk=project.pk))
    assert response.status_code == 404
    assert b"<script>alert" not in response.content


# ---------------------------------------------------------------------------------------
# Downloads


def test_evidence_download_is_an_attachment_with_the_exact_bytes(world):
    evidence = world.evidence["draft"]
    url = reverse("evidence-download", kwargs={"pk": world.projects["draft"].pk, "evidence_pk": evidence.pk})
    response = _client(world.owner).get(url)
    body = _body(response)

    assert response.status_code == 200
    assert body == world.markers["draft"]
    assert response["Content-Disposition"] == f'attachment; filename="{evidence.original_name}"'
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "'unsafe-inline'" not in csp


def test_a_stored_name_outside_ascii_is_sent_encoded(world):
    """A file name with accents and a quote still gives one well-formed header."""
    project = world.projects["draft"]
    item = GuidelineItem.objects.get(version=project.guideline_version, code=world.item_code)
    evidence = attach_evidence(project, 'Résumé "v2".txt', b"accented", item=item)
    assert evidence.original_name == 'Résumé "v2".txt'

    response = _client(world.owner).get(
        reverse("evidence-download", kwargs={"pk": project.pk, "evidence_pk": evidence.pk})
    )

    assert _body(response) == b"accented"
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20%22v2%22.txt")


# ---------------------------------------------------------------------------------------
# Passwords and login lockout


def _login(client: Client, username: str, password: str, address: str) -> HttpResponseBase:
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def test_passwords_are_stored_as_argon2_hashes(world):
    for role in ("owner", "other", "reviewer", "admin"):
        user = world.users[role]
        assert user is not None and user.password.startswith("argon2$")
        assert PASSWORD not in user.password


@pytest.mark.django_db
def test_login_locks_per_user_and_address_until_the_cool_off_ends(researcher):
    limit = settings.AXES_FAILURE_LIMIT
    attacker = Client()
    for attempt in range(1, limit + 1):
        response = _login(attacker, researcher.username, f"wrong-guess-{attempt}", "203.0.113.7")
        assert _logged_in_as(attacker) is None
    # django-axes 8 answers a lockout with 429 Too Many Requests and our template.
    assert response.status_code == 429

    locked = _login(attacker, researcher.username, PASSWORD, "203.0.113.7")
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content
    assert _logged_in_as(attacker) is None

    # The same person from another address is not locked out by someone else's guesses.
    elsewhere = Client()
    response = _login(elsewhere, researcher.username, PASSWORD, "198.51.100.20")
    assert response.status_code == 302 and _logged_in_as(elsewhere) == str(researcher.pk)
    assert _login(Client(), researcher.username, PASSWORD, "203.0.113.7").status_code == 429

    # Move time on past the cool-off: the lock ends by itself.
    cool_off = timedelta(hours=settings.AXES_COOLOFF_TIME)
    for attempt in AccessAttempt.objects.filter(username=researcher.username):
        attempt.attempt_time -= cool_off + timedelta(minutes=1)
        attempt.save()
    later = Client()
    response = _login(later, researcher.username, PASSWORD, "203.0.113.7")
    assert response.status_code == 302 and _logged_in_as(later) == str(researcher.pk)


@pytest.mark.django_db
def test_failures_below_the_limit_do_not_lock(researcher):
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, researcher.username, f"wrong-{attempt}", "203.0.113.8")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    response = _login(client, researcher.username, PASSWORD, "203.0.113.8")
    assert response.status_code == 302 and _logged_in_as(client) == str(researcher.pk)
