"""The public register: only approved, listed projects, only what their approved round froze,
the same 404 for every id that is not on it, a valid feed and JSON view, and cache headers
that never let a shared cache keep a signed-in user's page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve, reverse

from public.models import Listing, Objection, ObjectionKind
from public.selectors.register import register_rounds
from reviews.enums import Action, AnswerStatus, Meaning, ProjectStatus, Verdict
from reviews.models import ActivityEntry, GuidelineItem, Project
from reviews.services.decisions import project_amend, project_reinstate, project_suspend
from reviews.services.projects import answer_save, project_submit, project_update
from reviews.services.review import VerdictInput, round_review_save
from reviews.validators import validate_evidence_file
from tests.factories import ProjectFactory
from tests.public.register_world import (
    DISCLOSURE_SUMMARY,
    approved,
    decide,
    finish_run,
    set_listing,
    submit,
    with_audited_images,
)
from tests.workflow import answer_everything, reviewers_on, sign, waive_all

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def _page(client: Client, name: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    response = client.get(reverse(name, kwargs=kwargs or None))
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _json_ids(client: Client) -> list[int]:
    data = json.loads(_page(client, "public-register-json"))
    return [project["id"] for project in data["projects"]]


def _atom(client: Client) -> ET.Element:
    return ET.fromstring(client.get(reverse("public-feed")).content)  # noqa: S314 (our own feed, in a test)


def _feed_titles(client: Client) -> list[str | None]:
    return [entry.findtext(f"{ATOM}title") for entry in _atom(client).findall(f"{ATOM}entry")]


def _feed_links(client: Client) -> list[str]:
    root = _atom(client)
    return [entry.find(f"{ATOM}link").get("href") for entry in root.findall(f"{ATOM}entry")]  # type: ignore[union-attr]


def _directives(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.fixture
def cast(catalogue, researcher, admin_user):  # type: ignore[no-untyped-def]
    """A listed draft, a listed rejected, an unlisted approved and a listed approved project."""
    draft = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Listed draft", public_listing=True)
    rejected = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Listed rejected")
    decide(submit(rejected, listed=True), Meaning.REJECT, admin=admin_user)
    rejected.refresh_from_db()
    assert rejected.status == ProjectStatus.REJECTED
    unlisted = approved(researcher, catalogue, title="Unlisted approved", listed=False, admin=admin_user)
    listed = approved(researcher, catalogue, title="Listed approved", listed=True, admin=admin_user)
    return {"draft": draft, "rejected": rejected, "unlisted": unlisted, "listed": listed}


@pytest.mark.parametrize(
    ("listing", "shown"),
    [
        (Listing.OPT_IN, ["listed"]),
        (Listing.DEFAULT, ["listed"]),
        (Listing.MANDATORY, ["listed", "unlisted"]),
    ],
)
def test_the_register_shows_only_approved_listed_projects(client, cast, listing, shown):
    set_listing(listing)
    expected = {cast[key].pk for key in shown}

    page = _page(client, "public-register")
    for key, project in cast.items():
        assert (project.title in page) == (key in shown), key
        answer = client.get(reverse("public-project", kwargs={"pk": project.pk}))
        assert answer.status_code == (200 if key in shown else 404), key
    assert f"{len(shown)} project{'s' if len(shown) > 1 else ''} on the register" in page
    assert set(_json_ids(client)) == expected
    links = _feed_links(client)
    assert {int(urlsplit(link).path.strip("/").split("/")[-1]) for link in links} == expected
    # Newest approval first: the listed project was approved after the unlisted one.
    if listing == Listing.MANDATORY:
        assert _json_ids(client) == [cast["listed"].pk, cast["unlisted"].pk]


def test_every_id_not_on_the_register_answers_the_same_404(client, cast):
    set_listing(Listing.OPT_IN)
    # Every project in the database (the cast's draft, rejected and unlisted among them) and ids
    # that name no project. Not every id up to the highest: PostgreSQL's sequence keeps counting
    # across the run's rolled-back tests, so that range grew to thousands of requests.
    existing = set(Project.objects.values_list("pk", flat=True))
    highest = max(existing, default=0)
    absent = {
        pk
        for pk in (1, min(existing, default=2) - 1, highest + 1, highest + 2, highest + 3)
        if pk > 0 and pk not in existing
    }
    bodies: dict[object, bytes] = {}
    for pk in sorted(existing | absent):
        response = client.get(reverse("public-project", kwargs={"pk": pk}))
        if pk == cast["listed"].pk:
            assert response.status_code == 200
            continue
        assert response.status_code == 404, pk
        bodies[pk] = response.content
        assert _directives(response) == {"private", "no-cache"}
    for absurd in ("/register/99999999999999999999999999/", "/register/0/"):
        response = client.get(absurd)
        assert response.status_code == 404, absurd
        bodies[absurd] = response.content
    assert client.get("/register/abc/").status_code == 404  # no URL at all (its page marks no menu entry)
    assert len(set(bodies.values())) == 1, "some ids that are not on the register answer differently"
    assert b"Listed rejected" not in next(iter(bodies.values()))


@pytest.fixture
def secret_world(catalogue, researcher, other_researcher, admin_user):  # type: ignore[no-untyped-def]
    """An approved, listed project whose private material is marked, amended afterwards with
    private edits; and another researcher's approved but unlisted project."""
    project = ProjectFactory(
        owner=researcher,
        guideline_version=catalogue,
        title="Synthetic knee MRI for segmentation",
        summary="A diffusion model generates knee MRI slices.",
        data_sources="SECRET-DATA-SOURCE hospital PACS export",
        modalities=["MR"],
    )
    answer_everything(project)
    # An evidence text the register must never show (not EV-11 or OV-4), and an evidence file.
    item = GuidelineItem.objects.get(version=catalogue, code="PF-1")
    answer_save(
        actor=researcher,
        project=project,
        item=item,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="SECRET-EVIDENCE-TEXT of the protocol",
        files=[validate_evidence_file(SimpleUploadedFile("secret-evidence-file.txt", b"bytes", "text/plain"))],
    )
    limitations = GuidelineItem.objects.get(version=catalogue, code="EV-11")
    answer_save(
        actor=researcher,
        project=project,
        item=limitations,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="PUBLIC-LIMITATIONS: fails on paediatric knees.",
    )
    plain = GuidelineItem.objects.get(version=catalogue, code="OV-4")
    answer_save(
        actor=researcher,
        project=project,
        item=plain,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="PUBLIC-PLAIN: computer-made knee pictures for training software.",
    )
    round_two = project_submit(actor=researcher, project=project, public_listing=True)
    technical, clinical = reviewers_on(project, admin=admin_user)
    items = GuidelineItem.objects.filter(version=catalogue)
    for reviewer in (technical, clinical):
        round_review_save(
            actor=reviewer,
            round_=round_two,
            verdicts=[
                VerdictInput(item=i, verdict=Verdict.CONCERN if i.code == "PF-1" else Verdict.ACCEPTABLE,
                             comment="SECRET-REVIEWER-COMMENT on PF-1" if i.code == "PF-1" else "")
                for i in items
            ],
            declared_phase=1,
            overclaim="within",
            overclaim_note="",
            submit=True,
        )  # fmt: skip
    waive_all(round_two, technical)
    sign(round_two, technical, Meaning.APPROVE_WITH_CONDITIONS, "SECRET-CONDITION of the signature")
    sign(round_two, clinical)
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    # After the approval: an amendment with private edits.
    project_amend(actor=researcher, project=project, reason="SECRET-AMEND-REASON")
    project_update(
        actor=researcher,
        project=project,
        data={
            "title": "AMENDED-SECRET-TITLE",
            "summary": "AMENDED-SECRET-SUMMARY",
            "synthesis_task": "text_to_image",
            "modalities": ["CT"],
            "generator_family": "gan",
            "intended_use": "AMENDED-SECRET-USE",
            "prohibited_uses": "AMENDED-SECRET-PROHIBITED",
            "data_sources": "AMENDED-SECRET-SOURCES",
        },
    )
    answer_save(
        actor=researcher,
        project=project,
        item=limitations,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="AMENDED-SECRET-LIMITATIONS",
    )
    unlisted = approved(other_researcher, catalogue, title="UNLISTED-SECRET-TITLE", listed=False, admin=admin_user)
    secrets = [
        "SECRET-DATA-SOURCE",
        "SECRET-EVIDENCE-TEXT",
        "secret-evidence-file.txt",
        "SECRET-REVIEWER-COMMENT",
        "SECRET-CONDITION",
        "SECRET-AMEND-REASON",
        "AMENDED-SECRET",
        "UNLISTED-SECRET-TITLE",
        researcher.email,
        researcher.username,
        other_researcher.email,
        technical.full_name,
        clinical.full_name,
    ]
    return {"project": project, "unlisted": unlisted, "secrets": secrets, "round": round_two}


def _public_urls(world) -> list[str]:  # type: ignore[no-untyped-def]
    pk = world["project"].pk
    return [
        reverse("public-register"),
        reverse("public-register") + "?q=knee",
        reverse("public-project", kwargs={"pk": pk}),
        reverse("public-feed"),
        reverse("public-register-json"),
    ]


ALLOWED_LINKS = {"home", "login", "register", "public-register", "public-project", "public-feed",
                 "public-register-json", "letter-verify", "letter-verify-form", "api:docs"}  # fmt: skip


def test_nothing_private_is_reachable_from_the_register(client, secret_world):
    set_listing(Listing.OPT_IN, show_signer_names=False)
    project = secret_world["project"]
    for url in _public_urls(secret_world):
        body = client.get(url).content.decode()
        leaks = [secret for secret in secret_world["secrets"] if secret in body]
        assert not leaks, f"{url} leaks {leaks}"
        for href in re.findall(r'href="([^"]+)"', body):
            path = urlsplit(href).path
            if path.startswith("/static/") or not path.startswith("/"):
                continue
            try:
                name = resolve(path).view_name
            except Resolver404:
                pytest.fail(f"{url} links to {href}, which is no page")
            assert name in ALLOWED_LINKS or str(name).startswith("objection"), f"{url} links to {href} ({name})"

    page = _page(client, "public-project", pk=project.pk)
    # What the approved round froze is shown, and the amendment is said to be in progress.
    assert "Synthetic knee MRI for segmentation" in page and "MRI" in page
    assert "PUBLIC-LIMITATIONS: fails on paediatric knees." in page
    assert "PUBLIC-PLAIN: computer-made knee pictures" in page
    assert "An amendment of this project is being prepared or reviewed" in page
    assert "Approve with conditions" in page and "Technical reviewer" in page
    assert secret_world["round"].digest in page
    # The waiver is said, its reason is not.
    assert "Waived by a reviewer, with a written reason" in page
    assert "No images were part of this round" not in page


@pytest.mark.parametrize(
    ("q", "task", "modality", "found"),
    [
        ("knee", "", "", True),
        ("AMENDED-SECRET-TITLE", "", "", False),  # a word typed only in the private amendment
        ("SECRET-EVIDENCE-TEXT", "", "", False),  # in the snapshot, but not in a public field
        ("SECRET-DATA-SOURCE", "", "", False),
        ("", "augmentation", "", None),
        ("", "text_to_image", "", False),  # the amendment's private task
        ("", "", "MR", True),
        ("", "", "CT", False),  # the amendment's private modality
    ],
    ids=["public-word", "amended-title", "evidence-text", "data-source", "frozen-task", "amended-task",
         "frozen-modality", "amended-modality"],
)  # fmt: skip
def test_search_and_filters_read_only_the_approved_rounds_public_fields(client, secret_world, q, task, modality, found):
    set_listing(Listing.OPT_IN)
    project = secret_world["project"]
    if found is None:  # the factory's task, as frozen
        frozen_task = secret_world["round"].snapshot["project"]["synthesis_task"]
        found = frozen_task == task
    response = client.get(reverse("public-register"), {"q": q, "task": task, "modality": modality})
    assert response.status_code == 200
    listed = [entry.pk for entry in response.context["entries"]]
    assert (project.pk in listed) == found


def test_a_bad_filter_is_named_not_a_500(client, secret_world):
    response = client.get(reverse("public-register"), {"modality": "<script>", "task": "nope"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Select a valid choice" in body and "<script>" not in body
    assert client.get(reverse("public-register"), {"page": "999"}).status_code == 200
    bad = client.get(reverse("public-register-json"), {"page": "x"})
    assert bad.status_code == 404 and "pages are numbered" in bad.json()["error"]


def test_signers_names_show_only_when_the_board_says_so(client, secret_world):
    url = reverse("public-project", kwargs={"pk": secret_world["project"].pk})
    set_listing(Listing.OPT_IN, show_signer_names=False)
    assert "Tess Technical" not in client.get(url).content.decode()
    set_listing(Listing.OPT_IN, show_signer_names=True)
    assert "Tess Technical" in client.get(url).content.decode()
    names = [s["name"] for s in json.loads(_page(client, "public-register-json"))["projects"][0]["signatures"]]
    assert "Tess Technical" in names


def test_disclosure_statement_and_verdicts_come_from_the_approved_rounds_audit(
    client, catalogue, researcher, admin_user
):
    set_listing(Listing.OPT_IN)
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Audited chest X-rays")
    with_audited_images(project)
    round_ = submit(project, listed=True)
    finish_run(round_, {"disclosure": "pass", "privacy": "pass", "memorization": "warn", "fidelity": "fail",
                        "representation": "not_computable", "manifest": "pass"})  # fmt: skip
    decide(round_, admin=admin_user)
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED

    page = _page(client, "public-project", pk=project.pk)
    assert DISCLOSURE_SUMMARY in page
    assert "SECRET-AUDIT-SENTENCE" not in page  # the other audits' sentences may name files
    table = page[page.index('id="audit-verdicts"') :]
    for words in ("Passed", "Passed with warnings", "Failed", "Not computable"):
        assert words in table
    assert "No images were audited" not in page
    data = json.loads(_page(client, "public-register-json"))["projects"][0]
    assert data["disclosure_statement"] == DISCLOSURE_SUMMARY and data["images_audited"] is True
    assert {a["audit"]: a["status"] for a in data["audits"]}["fidelity"] == "fail"
    assert {a["audit"]: a["waived"] for a in data["audits"]}["fidelity"] is True


def test_without_images_the_page_says_no_images_were_audited(client, catalogue, researcher, admin_user):
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="Written evidence only", admin=admin_user)
    page = _page(client, "public-project", pk=project.pk)
    assert "No images were audited for the approved round" in page
    assert page.count("Not computable") == 6


def test_suspension_and_reinstatement_show_on_the_page_the_feed_and_the_json(client, catalogue, researcher, admin_user):
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="Suspended project", admin=admin_user)
    project_suspend(actor=admin_user, project=project, reason="An upheld objection: images were unlabelled.")
    page = _page(client, "public-project", pk=project.pk)
    entry = ActivityEntry.objects.get(action=Action.SUSPEND)
    assert "Approval suspended" in page and "An upheld objection: images were unlabelled." in page
    assert f"{entry.at:%Y-%m-%d}" in page[page.index('id="suspension"') :]
    data = json.loads(_page(client, "public-register-json"))["projects"][0]
    assert data["standing"] == "suspended" and data["suspension"]["reason"].startswith("An upheld objection")
    titles = _feed_titles(client)
    assert titles == ["Approval suspended: Suspended project", "Approved: Suspended project"]

    project_reinstate(actor=admin_user, project=project, reason="The images were relabelled.")
    page = _page(client, "public-project", pk=project.pk)
    assert "Approval suspended" not in page and ">Approved</span>" in page
    titles = _feed_titles(client)
    assert titles[0] == "Approval reinstated: Suspended project"


def test_a_suspended_project_answered_with_an_amendment_stays_suspended_on_the_register(
    client, catalogue, researcher, admin_user
):
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="Suspended, then amended", admin=admin_user)
    project_suspend(actor=admin_user, project=project, reason="The labels were missing.")
    project_amend(actor=researcher, project=project, reason="Relabelled every image.")
    page = _page(client, "public-project", pk=project.pk)
    assert "Approval suspended" in page and "The labels were missing." in page
    assert json.loads(_page(client, "public-register-json"))["projects"][0]["standing"] == "suspended"


def test_an_approved_amendment_replaces_what_the_register_shows(client, catalogue, researcher, admin_user):
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="First title", admin=admin_user)
    project_amend(actor=researcher, project=project, reason="New site.")
    data = {f: getattr(project, f) for f in ("summary", "synthesis_task", "modalities", "generator_family",
                                                 "intended_use", "prohibited_uses", "data_sources")}  # fmt: skip
    project_update(actor=researcher, project=project, data={**data, "title": "Second title"})
    assert "First title" in _page(client, "public-register")
    round_two = submit(project, listed=True)
    assert "Second title" not in _page(client, "public-register")  # submitted, not yet approved
    decide(round_two, admin=admin_user)
    page = _page(client, "public-register")
    assert "Second title" in page and "First title" not in page
    assert len(_feed_links(client)) == 2  # one entry per approval


def test_an_amendment_submitted_unlisted_leaves_the_register_once_approved(client, catalogue, researcher, admin_user):
    """Each submission asks again: the latest choice is the one that counts."""
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="Changing its mind", admin=admin_user)
    project_amend(actor=researcher, project=project, reason="New site.")
    submit(project, listed=False)
    assert client.get(reverse("public-project", kwargs={"pk": project.pk})).status_code == 404


# ---------------------------------------------------------------------------------------
# Feed and JSON


def test_the_feed_is_valid_atom_with_public_links(client, cast):
    set_listing(Listing.OPT_IN)
    response = client.get(reverse("public-feed"))
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own feed, in a test)
    assert root.tag == f"{ATOM}feed"
    [entry] = root.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Approved: Listed approved"
    assert entry.findtext(f"{ATOM}id").startswith("urn:misyn-register:approval:")  # type: ignore[union-attr]
    link = entry.find(f"{ATOM}link").get("href")  # type: ignore[union-attr]
    assert urlsplit(link).path == reverse("public-project", kwargs={"pk": cast["listed"].pk})
    summary = entry.find(f"{ATOM}summary")
    assert summary is not None and summary.get("type") == "html"
    # Declared HTML, so the texts come as escaped paragraphs that a reader shows as such.
    assert summary.text and summary.text.startswith("<p>") and cast["listed"].rounds.get().digest in summary.text
    # Feed readers find the feed from any page.
    page = client.get(reverse("public-register")).content.decode()
    assert (
        f'rel="alternate" type="application/atom+xml" title="MISyn Review public register" href="{reverse("public-feed")}"'
        in page
    )


def test_the_json_view_has_a_stable_schema(client, cast):
    set_listing(Listing.OPT_IN)
    data = json.loads(_page(client, "public-register-json"))
    assert data["schema"] == "misyn-register/1"
    assert (data["count"], data["page"], data["pages"], data["next"], data["previous"]) == (1, 1, 1, None, None)
    [entry] = data["projects"]
    assert set(entry) == {
        "id", "url", "title", "summary", "intended_use", "prohibited_uses", "synthesis_task", "modalities",
        "generator_family", "standing", "suspension", "approved_at", "round", "round_sha256", "limitations",
        "plain_language_summary", "images_audited", "disclosure_statement", "audits", "signatures", "objections",
    }  # fmt: skip
    assert entry["title"] == "Listed approved" and entry["standing"] == "approved"
    assert entry["round_sha256"] == cast["listed"].rounds.get().digest
    assert [s["name"] for s in entry["signatures"]] == [None, None]
    assert urlsplit(entry["url"]).path == reverse("public-project", kwargs={"pk": cast["listed"].pk})


# ---------------------------------------------------------------------------------------
# Caching


def test_anonymous_pages_are_publicly_cacheable_signed_in_pages_are_private(client, cast, researcher):
    set_listing(Listing.OPT_IN)
    urls = [reverse("public-register"), reverse("public-project", kwargs={"pk": cast["listed"].pk}),
            reverse("public-feed"), reverse("public-register-json")]  # fmt: skip
    for url in urls:
        response = client.get(url)
        assert _directives(response) == {"public", "max-age=300"}, url
        assert "Cookie" in response["Vary"]
        assert not response.cookies
    signed_in = Client()
    signed_in.force_login(researcher)
    for url in urls:
        response = signed_in.get(url)
        assert _directives(response) == {"private", "no-cache"}, url
    # The same content for both, only the header differs.
    page = signed_in.get(urls[1]).content.decode()
    assert "Listed approved" in page and researcher.display_name in page


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _questioned(project: Project, admin) -> None:  # type: ignore[no-untyped-def]
    """Two objections on the project, one with a published board response."""
    from public.services.objections import objection_board_respond, objection_send

    for kind in (ObjectionKind.QUESTION, ObjectionKind.OBJECTION):
        sent = objection_send(project=project, title=project.title, kind=kind, text="Are they labelled?")
    objection_board_respond(actor=admin, objection=sent.objection, text="They are.")


def test_the_register_its_json_and_its_feed_run_the_same_queries_for_one_project_and_for_many(
    client, catalogue, researcher, admin_user
):
    """Suspended and amended entries (whose suspension is read) and objections (read with their
    published responses) cost the same for one entry as for many: one query for the page's
    suspensions, two for its objections. (Projects with audited images add the audit run's
    queries per entry in the JSON view: audits.selectors.round_audits reads one round at a time.)
    The three pages share one register (built once: four approved projects take seconds)."""
    set_listing(Listing.OPT_IN)
    first = approved(researcher, catalogue, title="Project 0", admin=admin_user)
    project_suspend(actor=admin_user, project=first, reason="Labels missing.")
    _questioned(first, admin_user)
    names = ("public-register", "public-register-json", "public-feed")
    one = {name: _queries(client, reverse(name)) for name in names}
    for n in range(1, 4):
        project = approved(researcher, catalogue, title=f"Project {n}", admin=admin_user)
        _questioned(project, admin_user)
        if n == 1:
            project_suspend(actor=admin_user, project=project, reason="Consent unclear.")
        elif n == 2:
            project_amend(actor=researcher, project=project, reason="A new site.")
        else:
            project_suspend(actor=admin_user, project=project, reason="Suspended, then amended.")
            project_amend(actor=researcher, project=project, reason="Relabelled.")
    many = {name: _queries(client, reverse(name)) for name in names}
    assert many == one, f"queries for one entry: {one}; for four: {many}"
    # The setting, the count and the page of rounds, the page's suspensions; the JSON's
    # signatures, waivers, objections and responses; the feed's approvals and changes.
    assert one == {"public-register": 4, "public-register-json": 8, "public-feed": 5}
    for name in names:
        body = client.get(reverse(name)).content.decode()
        assert all(f"Project {n}" in body for n in range(4)), name


def test_objections_show_without_their_senders(client, catalogue, researcher, admin_user):
    set_listing(Listing.OPT_IN)
    project = approved(researcher, catalogue, title="Questioned project", admin=admin_user)
    Objection.objects.create(project=project, kind=ObjectionKind.OBJECTION, text="SECRET-OBJECTION-TEXT",
                             name="SECRET-SENDER", email="sender@example.org", token_sha256="a" * 64)  # fmt: skip
    Objection.objects.create(project=project, kind=ObjectionKind.QUESTION, text="Are the images labelled?",
                             publish_text=True, token_sha256="b" * 64)  # fmt: skip
    page = _page(client, "public-project", pk=project.pk)
    body = _page(client, "public-register-json")
    for text in (page, body):
        assert "SECRET-OBJECTION-TEXT" not in text and "SECRET-SENDER" not in text and "sender@example.org" not in text
        assert "Are the images labelled?" in text
    objections = json.loads(body)["projects"][0]["objections"]
    assert [(o["kind"], o["status"], o["text"]) for o in objections] == [
        ("question", "received", "Are the images labelled?"),
        ("objection", "received", None),
    ]


def test_rounds_selector_returns_one_round_per_project(catalogue, researcher, admin_user):
    project = approved(researcher, catalogue, title="Once", admin=admin_user)
    project_amend(actor=researcher, project=project, reason="More.")
    decide(submit(project, listed=True), admin=admin_user)
    assert [r.number for r in register_rounds(listing=Listing.OPT_IN)] == [2]
