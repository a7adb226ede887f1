"""Decision letters, their verification page and the round's exports (issue 11, point 4)."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.urls import reverse
from pypdf import PdfReader

from letters.pdf import LetterUnavailable, render_pdf
from letters.selectors import canonical_text, letter_fingerprint
from reviews.enums import Meaning
from reviews.models import Round, RoundOutcome, Signature
from reviews.services.projects import answer_save
from reviews.services.review import VerdictInput, round_review_save
from tests.conftest import require
from tests.factories import ProjectFactory, ReviewerFactory
from tests.letters.builders import (
    CONCERN,
    CONCERN_ITEM,
    CONDITION,
    EVIDENCE_NAME,
    EVIDENCE_TEXT,
    WAIVER_REASON,
    Decided,
    tampering,
)
from tests.workflow import answer_everything, reviewers_on, submitted


def _weasyprint_present() -> bool:
    # Through letters.pdf, never `import weasyprint` here: the import flips Pillow's process-wide
    # LOAD_TRUNCATED_IMAGES, which letters.pdf puts back (tests/letters/test_pillow_setting.py).
    try:
        render_pdf("<p>A test</p>")
    except LetterUnavailable:
        return False
    return True


@pytest.fixture
def needs_weasyprint() -> None:
    require(_weasyprint_present(), "WeasyPrint or Debian's pango is not installed")


def _url(name: str, round_: Round) -> str:
    return reverse(name, kwargs={"pk": round_.project_id, "number": round_.number})


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---- the letter -----------------------------------------------------------------------------


def test_the_letter_carries_the_frozen_round_its_signatures_audits_and_comments(
    client, decided: Decided, researcher, needs_weasyprint
):
    client.force_login(researcher)
    response = client.get(_url("round-letter", decided.round))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    project, round_ = decided.project, decided.round
    assert response["Content-Disposition"] == f'attachment; filename="misyn-{project.pk}-round-1-decision.pdf"'
    text = _pdf_text(response.content)
    flat = _flat(text)
    assert _flat(project.title) in flat
    assert round_.digest in flat
    assert "Decision: Approved, with conditions" in text
    signatures = list(Signature.objects.filter(round=round_).order_by("signed_at", "pk"))
    assert len(signatures) == 2
    for signature in signatures:
        assert signature.printed_name in text
        assert _flat(signature.get_meaning_display()) in flat
        assert signature.signed_at.strftime("%Y-%m-%d") in text and signature.signed_at.strftime("%H:%M:%S") in text
    assert "Technicalreviewer" in flat and "Clinicalreviewer" in flat
    assert _flat(CONDITION) in flat  # the condition, under the decision and with its signature
    assert _flat(WAIVER_REASON) in flat and "Waived by Tess Technical" in text
    assert _flat(CONCERN) in flat and CONCERN_ITEM in text  # the consolidated item comment
    assert _flat(f"http://testserver/verify/{round_.digest}/") in flat
    assert letter_fingerprint(round_.digest, signatures) in text
    assert "Page 1 of" in text
    assert "no longer verifies" not in text


def test_a_letter_of_a_tampered_record_says_so(client, decided: Decided, researcher, needs_weasyprint):
    with tampering("reviews_signature"):
        Signature.objects.filter(round=decided.round, signer=decided.clinical).update(statement="Approved unread.")
    client.force_login(researcher)
    text = _pdf_text(client.get(_url("round-letter", decided.round)).content)
    assert "This record no longer verifies" in text
    assert _flat("Signature 2 (clinical reviewer, approve) is not intact") in _flat(text)


def test_the_letter_is_read_from_the_frozen_round_not_the_live_project(
    client, decided: Decided, researcher, needs_weasyprint
):
    """An amendment renames the project; round 1's letter still names what was decided."""
    from reviews.models import Project

    Project.objects.filter(pk=decided.project.pk).update(title="A new title after the decision")
    client.force_login(researcher)
    text = _flat(_pdf_text(client.get(_url("round-letter", decided.round)).content))
    assert _flat("Synthetic knee CT for segmentation") in text
    assert _flat("A new title after the decision") not in text


def test_a_rejection_letter_gives_the_reasons(client, catalogue, researcher, admin_user, needs_weasyprint):
    project = ProjectFactory(owner=researcher, title="Synthetic retinal fundus images")
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    items = project.guideline_version.items.all()
    round_review_save(
        actor=technical, round_=round_, verdicts=[VerdictInput(item=i, verdict="acceptable", comment="") for i in items],
        declared_phase=1, overclaim="within", overclaim_note="", submit=True,
    )  # fmt: skip
    reason = "The generator reproduces identifiable retinal vessel patterns of training patients."
    from tests.workflow import sign

    sign(round_, technical, Meaning.REJECT, reason)
    client.force_login(admin_user)
    text = _pdf_text(client.get(_url("round-letter", round_)).content)
    assert "Decision: Rejected" in text
    assert "Reasons" in text and _flat(reason) in _flat(text)


def test_an_undecided_round_has_no_letter(client, catalogue, researcher):
    round_ = submitted(ProjectFactory(owner=researcher))
    client.force_login(researcher)
    response = client.get(_url("round-letter", round_))
    assert response.status_code == 404
    assert "Round 1 has no decision yet" in response.content.decode()


def test_a_withdrawn_round_has_no_letter(client, catalogue, researcher):
    from reviews.services.decisions import project_withdraw

    project = ProjectFactory(owner=researcher)
    round_ = submitted(project)
    project_withdraw(actor=researcher, project=project, reason="The study stopped.")
    client.force_login(researcher)
    response = client.get(_url("round-letter", round_))
    assert response.status_code == 404
    assert "ended “withdrawn”, without a decision" in response.content.decode()


@pytest.mark.parametrize("name", ["round-letter", "round-export-json", "round-export-csv"])
def test_outsiders_are_told_nothing_and_anonymous_visitors_log_in(
    client, decided: Decided, other_researcher, reviewer, name
):
    url = _url(name, decided.round)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for outsider in (other_researcher, reviewer):
        client.force_login(outsider)
        response = client.get(url)
        assert response.status_code == 404
        assert decided.project.title not in response.content.decode()


def test_a_round_of_another_project_is_not_found(client, decided: Decided, researcher, other_researcher):
    """Another researcher's own project number with this round's number: the round is looked up
    inside the project that the check let in."""
    foreign = submitted(ProjectFactory(owner=other_researcher))
    client.force_login(other_researcher)
    assert client.get(reverse("round-letter", kwargs={"pk": foreign.project_id, "number": 2})).status_code == 404
    client.force_login(researcher)
    assert client.get(reverse("round-export-json", kwargs={"pk": foreign.project_id, "number": 1})).status_code == 404


def test_without_weasyprint_the_letter_answers_503_with_a_sentence(client, decided: Decided, researcher, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # what a machine without the package or pango has
    client.force_login(researcher)
    response = client.get(_url("round-letter", decided.round))
    assert response.status_code == 503
    assert "its PDF renderer (WeasyPrint with pango) is not installed" in response.content.decode()


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads `hits`, not the server's log."""


def test_the_renderer_fetches_no_url_whatever_the_html_asks_for(needs_weasyprint, tmp_path):
    """The template escapes user text; should markup ever get through, nothing is fetched."""
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: blue }")
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        pdf = render_pdf(
            f'<html><head><link rel="stylesheet" href="{base}/style.css"><style>@import url("{base}/i.css");</style>'
            f'<link rel="stylesheet" href="file://{secret}"></head>'
            f'<body><img src="{base}/pixel.png"><p>Letter</p></body></html>'
        )
    finally:
        server.shutdown()
        thread.join()
    assert _Recorder.hits == []
    assert "Letter" in _pdf_text(pdf)


# ---- verification -----------------------------------------------------------------------------


def _verify(client, round_: Round):  # type: ignore[no-untyped-def]
    return client.get(reverse("letter-verify", kwargs={"digest": round_.digest}))


def _text(response) -> str:  # type: ignore[no-untyped-def]
    """The page as a reader sees its characters (apostrophes unescaped)."""
    return html.unescape(response.content.decode())


def test_the_verification_page_says_an_untouched_letter_is_intact(client, decided: Decided):
    response = _verify(client, decided.round)  # anonymous: no login
    page = _text(response)
    assert response.status_code == 200
    assert "This letter's round and signatures are intact" in page
    assert decided.project.title in page and "Approved" in page
    signatures = list(Signature.objects.filter(round=decided.round))
    assert letter_fingerprint(decided.round.digest, signatures) in page
    rows = re.findall(
        r"<tr><td[^>]*>(\d+)</td><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td></tr>", page
    )
    assert [row[:3] for row in rows] == [
        ("1", "Technical reviewer", "Approve with conditions"),
        ("2", "Clinical reviewer", "Approve"),
    ]
    assert [row[3] for row in rows] == [s.signed_at.strftime("%Y-%m-%d %H:%M:%S") for s in signatures]
    assert "Signature 1 (technical reviewer, approve with conditions)" in page
    assert "Signature 2 (clinical reviewer, approve)" in page


def test_the_verification_page_never_names_a_signer(client, decided: Decided, admin_user):
    """The page is public and the register links to it, while a board setting may hide the
    signers' names on the register: the page names no signer, intact or tampered. The letter,
    which only its holders read, keeps the printed names."""
    pages = [_text(_verify(client, decided.round))]
    with tampering("reviews_signature"):
        Signature.objects.filter(round=decided.round, signer=decided.clinical).update(statement="Approved unread.")
    pages.append(_text(_verify(client, decided.round)))
    assert "not intact" in pages[1]
    names = {s.printed_name for s in Signature.objects.filter(round=decided.round)}
    assert names == {"Tess Technical", "Carl Clinical"}
    for page in pages:
        for name in names | {decided.technical.username, decided.clinical.username}:
            assert name not in page, name
        for first_name in ("Tess", "Carl"):
            assert first_name not in page, first_name


def test_the_verification_page_shows_nothing_beyond_the_letter(client, decided: Decided, researcher):
    page = _text(_verify(client, decided.round))
    for private in (
        researcher.email, researcher.username, EVIDENCE_NAME, EVIDENCE_TEXT, CONCERN, CONDITION, WAIVER_REASON,
        decided.project.summary, decided.project.intended_use, decided.technical.email,
    ):  # fmt: skip
        assert private not in page, private
    assert reverse("project-detail", kwargs={"pk": decided.project.pk}) not in page


def test_a_changed_round_is_flagged(client, decided: Decided):
    tampered = decided.round.canonical_json.replace("Synthetic knee CT", "Synthetic knee MRI")
    with tampering("reviews_round"):
        Round.objects.filter(pk=decided.round.pk).update(canonical_json=tampered)  # bypasses Round.save's refusal
    page = _text(_verify(client, decided.round))
    assert "This letter's record is not intact" in page
    assert "The round's content has changed since it was signed" in page
    assert "round and signatures are intact" not in page


def test_an_altered_signature_is_flagged(client, decided: Decided):
    with tampering("reviews_signature"):
        Signature.objects.filter(round=decided.round, signer=decided.clinical).update(statement="Approved unread.")
    page = _text(_verify(client, decided.round))
    assert "Signature 2 (clinical reviewer, approve) is not intact" in page
    assert "altered after signing" in page
    assert "Signature 1 (technical reviewer, approve with conditions) is not intact" not in page


def test_a_signature_rewritten_with_a_recomputed_hash_is_flagged_by_the_chain(client, decided: Decided):
    signature = Signature.objects.get(round=decided.round, signer=decided.technical)
    signature.statement = "No conditions."
    with tampering("reviews_signature"):
        Signature.objects.filter(pk=signature.pk).update(statement=signature.statement, hash=signature.compute_hash())
    page = _text(_verify(client, decided.round))
    assert "Signature 1 (technical reviewer, approve with conditions) is not intact" in page
    assert "the chain no longer points to it" in page


def test_a_changed_decision_is_flagged(client, decided: Decided):
    with tampering("reviews_roundoutcome"):
        RoundOutcome.objects.filter(round=decided.round).update(reasons="No conditions.")
    page = _text(_verify(client, decided.round))
    assert "The decision differs from the one recorded in the activity log" in page


@pytest.mark.parametrize(
    "digest", ["0" * 64, "not-a-digest", "A" * 64], ids=["unknown", "malformed", "uppercase-unknown"]
)
def test_a_digest_of_no_decision_is_not_found(client, decided: Decided, digest):
    response = client.get(reverse("letter-verify", kwargs={"digest": digest}))
    assert response.status_code == 404
    assert "No decision with this fingerprint" in response.content.decode()


def test_an_undecided_rounds_digest_reveals_nothing(client, catalogue, researcher):
    round_ = submitted(ProjectFactory(owner=researcher, title="Undecided private project"))
    response = _verify(client, round_)
    assert response.status_code == 404
    assert "Undecided private project" not in response.content.decode()


def test_the_form_takes_a_pasted_digest_and_names_what_is_wrong(client, decided: Decided):
    pasted = " ".join(decided.round.digest.upper()[i : i + 16] for i in range(0, 64, 16)) + "\n"
    response = client.get(reverse("letter-verify-form"), {"digest": pasted})
    assert response.status_code == 302
    assert response["Location"] == reverse("letter-verify", kwargs={"digest": decided.round.digest})

    response = client.get(reverse("letter-verify-form"), {"digest": "abc123xyz"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "64 characters" in page and "you entered 9 characters, some of them not hexadecimal" in page

    assert client.get(reverse("letter-verify-form")).status_code == 200


def test_verification_is_throttled_per_address(client, decided: Decided, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "verify-address": (2, 60)}
    assert _verify(client, decided.round).status_code == 200
    assert _verify(client, decided.round).status_code == 200
    response = _verify(client, decided.round)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


# ---- exports ------------------------------------------------------------------------------------


def test_the_json_export_carries_the_round_byte_for_byte_with_its_signatures(client, decided: Decided, researcher):
    client.force_login(researcher)
    response = client.get(_url("round-export-json", decided.round))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.content.decode("utf-8")
    document = json.loads(body)
    assert hashlib.sha256(canonical_text(document["round"]).encode()).hexdigest() == decided.round.digest
    assert f'"round":{decided.round.canonical_json},' in body  # the stored bytes themselves
    assert document["digest"] == decided.round.digest
    assert body == canonical_text(document)  # the whole file is canonical
    signed = {s["printed_name"]: s for s in document["signatures"]}
    assert set(signed) == {"Tess Technical", "Carl Clinical"}
    technical = signed["Tess Technical"]
    stored = Signature.objects.get(round=decided.round, signer=decided.technical)
    assert technical["meaning"] == Meaning.APPROVE_WITH_CONDITIONS and technical["statement"] == CONDITION
    assert technical["signed_at"] == stored.signed_at.isoformat() and technical["signed_at"].endswith("+00:00")
    assert (technical["seq"], technical["hash"], technical["round_digest"]) == (
        stored.seq, stored.hash, decided.round.digest,
    )  # fmt: skip
    assert document["outcome"]["outcome"] == "approved"


def test_the_json_export_of_an_open_round_keeps_the_signatures_from_the_researcher(
    client, catalogue, researcher, admin_user
):
    project = ProjectFactory(owner=researcher)
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    items = project.guideline_version.items.all()
    round_review_save(
        actor=technical, round_=round_, verdicts=[VerdictInput(item=i, verdict="acceptable", comment="") for i in items],
        declared_phase=1, overclaim="within", overclaim_note="", submit=True,
    )  # fmt: skip
    from tests.workflow import sign

    sign(round_, technical, Meaning.APPROVE)
    client.force_login(researcher)
    document = json.loads(client.get(_url("round-export-json", round_)).content)
    assert document["signatures"] is None and document["outcome"] is None
    assert document["round"]["project"]["title"] == project.title
    client.force_login(technical)
    document = json.loads(client.get(_url("round-export-json", round_)).content)
    assert [s["printed_name"] for s in document["signatures"]] == ["Tess Technical"]


def _csv_rows(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_csv_has_one_row_per_frozen_answer_with_the_reviewers_verdicts(client, decided: Decided, researcher):
    client.force_login(researcher)
    response = client.get(_url("round-export-csv", decided.round))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv_rows(response)
    answers = decided.round.snapshot["answers"]
    assert [row["code"] for row in rows] == [answer["item"] for answer in answers]
    items = {item.code: item for item in decided.project.guideline_version.items.all()}
    for row, answer in zip(rows, answers, strict=True):
        assert (row["stage"], row["status"], row["justification"], row["evidence_text"]) == (
            answer["stage"], answer["status"], answer["justification"], answer["evidence_text"],
        )  # fmt: skip
        assert row["requirement"] == items[answer["item"]].requirement
        assert row["required"] == ("yes" if answer["required"] else "no")
    first = rows[0]
    assert first["evidence_text"] == EVIDENCE_TEXT and first["files"].startswith(f"{EVIDENCE_NAME} (sha256 ")
    concern = next(row for row in rows if row["code"] == CONCERN_ITEM)
    assert concern["Tess Technical: verdict"] == "Concern" and concern["Tess Technical: comment"] == CONCERN
    assert concern["Carl Clinical: verdict"] == "Acceptable"


def test_the_csv_of_an_open_round_shows_the_researcher_no_verdicts(client, catalogue, researcher, admin_user):
    project = ProjectFactory(owner=researcher)
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    items = project.guideline_version.items.all()
    round_review_save(
        actor=technical, round_=round_, verdicts=[VerdictInput(item=i, verdict="concern", comment="Unclear.") for i in items],
        declared_phase=1, overclaim="within", overclaim_note="", submit=True,
    )  # fmt: skip
    client.force_login(researcher)
    rows = _csv_rows(client.get(_url("round-export-csv", round_)))
    assert not any(key.startswith("Tess Technical") for key in rows[0])
    client.force_login(admin_user)
    rows = _csv_rows(client.get(_url("round-export-csv", round_)))
    assert rows[0]["Tess Technical: comment"] == "Unclear."


def test_csv_cells_never_start_a_formula(client, catalogue, researcher):
    project = ProjectFactory(owner=researcher, title='=HYPERLINK("http://evil.example","click")')
    answer_everything(project)
    item = project.guideline_version.items.order_by("stage__order", "order")[0]
    answer_save(
        actor=researcher, project=project, item=item, status="met", justification="",
        evidence_text="@SUM(1+1)*cmd|' /C calc'!A0",
    )  # fmt: skip
    from reviews.services.projects import project_submit

    round_ = project_submit(actor=researcher, project=project)
    client.force_login(researcher)
    rows = _csv_rows(client.get(_url("round-export-csv", round_)))
    assert rows[0]["project"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[0]["evidence_text"] == "'@SUM(1+1)*cmd|' /C calc'!A0"


# ---- the round page -------------------------------------------------------------------------------


def test_the_round_page_links_the_decision_record(client, decided: Decided, researcher):
    client.force_login(researcher)
    page = client.get(decided.round.get_absolute_url()).content.decode()
    assert 'id="decision-record"' in page
    for name in ("round-letter", "round-export-json", "round-export-csv"):
        assert f'href="{_url(name, decided.round)}"' in page
    assert f'href="{reverse("letter-verify", kwargs={"digest": decided.round.digest})}"' in page


def test_an_undecided_round_page_offers_only_the_exports(client, catalogue, researcher):
    round_ = submitted(ProjectFactory(owner=researcher))
    client.force_login(researcher)
    page = client.get(round_.get_absolute_url()).content.decode()
    assert 'id="decision-record"' not in page and _url("round-letter", round_) not in page
    assert (
        f'href="{_url("round-export-json", round_)}"' in page and f'href="{_url("round-export-csv", round_)}"' in page
    )


def test_a_reviewer_who_signed_nothing_still_reads_the_letter(client, decided: Decided, admin_user, needs_weasyprint):
    """Accepted reviewers see the round; one who submitted no review gets the letter without the
    others' item comments, as the round page would show them."""
    from reviews.services.assignments import assignment_create, assignment_respond

    late = ReviewerFactory(full_name="Lena Late")
    assignment_create(actor=admin_user, project=decided.project, reviewer=late)
    assignment_respond(actor=late, project=decided.project, accept=True)
    client.force_login(late)
    text = _pdf_text(client.get(_url("round-letter", decided.round)).content)
    assert _flat(CONCERN) not in _flat(text)
    assert "item comments are not part of this copy" in text
