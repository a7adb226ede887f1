"""The review page writes its verdict controls from plain values (ReviewForm.controls) and the
frozen answers' evidence from a per-round rendering kept in memory (issue 13): what a reviewer
sees and posts must be exactly what Django's form widgets and the Markdown filter gave before.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from reviews.enums import AnswerStatus, Meaning, Verdict
from reviews.forms.review import ReviewForm
from reviews.models import GuidelineItem, Round, User
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import review_draft_save
from reviews.templatetags.review_tags import render_markdown
from tests.workflow import answer_everything, review, reviewers_on, sign

EVIDENCE = "Split **by patient**; see [the protocol](https://example.org/p).\n\n<script>alert(1)</script>"


@pytest.fixture
def round1(project) -> Round:
    answer_everything(project, text=EVIDENCE)
    return project_submit(actor=project.owner, project=project)


@pytest.fixture
def team(project, round1, admin_user) -> tuple[User, User]:
    return reviewers_on(project, admin=admin_user)


def items_of(round_: Round) -> list[GuidelineItem]:
    return list(GuidelineItem.objects.filter(version=round_.guideline_version_id).order_by("stage__order", "order"))


def url_of(round_: Round) -> str:
    return reverse("round-review", kwargs={"pk": round_.project_id, "number": round_.number})


def page_of(user: User, round_: Round, data: dict[str, str] | None = None) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    response = client.get(url_of(round_)) if data is None else client.post(url_of(round_), data)
    return response.status_code, response.content.decode()


def widget_html(form: ReviewForm, item: GuidelineItem) -> list[str]:
    """What Django's own widgets render for the item's controls: each radio, and the comment box."""
    radios = [str(choice.tag()) for choice in form[ReviewForm.verdict_name(item)]]
    return [*radios, str(form[ReviewForm.comment_name(item)])]


def test_controls_of_a_draft_are_the_widgets_html(round1, team):
    """Names, values, ids, the checked choice and the comment as typed, for every item."""
    technical, _ = team
    items = items_of(round1)
    typed = {f"verdict_{items[0].code}": Verdict.CONCERN, f"comment_{items[0].code}": 'Which "cohort" <b>& why</b>?'}
    typed[f"verdict_{items[1].code}"] = Verdict.ACCEPTABLE
    review_draft_save(actor=technical, round_=round1, fields=typed)
    status, page = page_of(technical, round1)
    assert status == 200
    form = ReviewForm(initial=typed, items=items)
    for item in items:
        for html in widget_html(form, item):
            assert html in page, (item.code, html)
    assert f'value="concern" class="btn-check" id="id_verdict_{items[0].code}_2" checked>' in page
    assert "Which &quot;cohort&quot; &lt;b&gt;&amp; why&lt;/b&gt;?</textarea>" in page
    # An item with no verdict yet shows "Undecided" chosen, as the radio widget did.
    assert f'value="" class="btn-check" id="id_verdict_{items[2].code}_0" checked>' in page
    labels = re.findall(rf'<label class="btn ([\w-]+)" for="id_verdict_{items[0].code}_\d">([^<]+)</label>', page)
    assert labels == [
        ("btn-outline-secondary", "Undecided"),
        ("btn-outline-success", "Acceptable"),
        ("btn-outline-warning", "Concern"),
        ("btn-outline-danger", "Must change"),
    ]


def test_a_refused_submission_keeps_the_choices_and_shows_the_errors(round1, team):
    """Concern without a comment, an undecided item on submit, a value that is no verdict: the
    page comes back (400) with what was posted, each error under its field, aria-invalid set
    and aria-describedby naming the error, exactly as the widgets render a bound form."""
    technical, _ = team
    items = items_of(round1)
    posted = {f"verdict_{item.code}": Verdict.ACCEPTABLE for item in items}
    first, second, third = items[0].code, items[1].code, items[2].code
    posted |= {f"verdict_{first}": Verdict.CONCERN, f"comment_{first}": "", f"verdict_{second}": ""}
    posted |= {f"verdict_{third}": "<script>", f"comment_{third}": "kept <text>", "action": "submit"}
    status, page = page_of(technical, round1, posted)
    assert status == 400
    form = ReviewForm(posted, items=items, submitting=True)
    assert not form.is_valid()
    for item in items:
        for html in widget_html(form, item):
            assert html in page, (item.code, html)
    assert f"{first}: “Concern” needs a comment saying what the concern is or what must change." in page
    assert f"{second}: choose a verdict before submitting the review." in page
    assert "Select a valid choice. &lt;script&gt; is not one of the available choices." in page
    assert f'id="id_verdict_{first}_2" checked>' in page
    assert f'aria-describedby="id_comment_{first}_helptext id_comment_{first}_error" id="id_comment_{first}"' in page
    assert f'id="id_verdict_{second}_0" aria-invalid="true" checked>' in page
    assert not re.search(rf'name="verdict_{third}" value="[^"]*" class="btn-check" id="[^"]+"[^>]* checked', page)
    assert "kept &lt;text&gt;</textarea>" in page


def test_two_reviewers_never_see_each_others_drafts(round1, team):
    """Whatever is kept between requests holds nothing of a reviewer's own: the second
    reviewer's page, rendered after the first's, shows none of the first's draft."""
    technical, clinical = team
    code = items_of(round1)[0].code
    review_draft_save(
        actor=technical, round_=round1, fields={f"verdict_{code}": Verdict.MUST_CHANGE, f"comment_{code}": "SECRET-T"}
    )
    status, mine = page_of(technical, round1)
    assert status == 200 and "SECRET-T" in mine and f'id="id_verdict_{code}_3" checked>' in mine
    status, theirs = page_of(clinical, round1)
    assert status == 200 and "SECRET-T" not in theirs
    assert f'id="id_verdict_{code}_0" checked>' in theirs


def test_frozen_evidence_shows_sanitised_and_per_round(project, round1, team):
    """The evidence is the Markdown filter's sanitised HTML, on the review and round pages; a
    later round shows its own answers, not the earlier round's rendering."""
    technical, _ = team
    expected = str(render_markdown(EVIDENCE))
    assert "<script>" not in expected and "<strong>by patient</strong>" in expected
    status, page = page_of(technical, round1)
    assert status == 200 and expected in page and "<script>alert(1)</script>" not in page
    shown_in_round1 = page.count(expected)  # every item, and the overclaim check's three again
    client = Client()
    client.force_login(technical)
    detail = client.get(reverse("round-detail", kwargs={"pk": project.pk, "number": 1})).content.decode()
    assert expected in detail

    round2 = _resubmit(round1, technical, items_of(round1)[0], "Now split **by site**.")
    status, page = page_of(technical, round2)
    assert status == 200
    assert str(render_markdown("Now split **by site**.")) in page
    assert page.count(expected) == shown_in_round1 - 1  # every answer but the changed one


def _resubmit(round_: Round, reviewer: User, item: GuidelineItem, text: str) -> Round:
    """Round 2 after the reviewer requested changes, with one answer's evidence rewritten."""
    review(round_, reviewer, verdict=Verdict.MUST_CHANGE)
    sign(round_, reviewer, Meaning.REQUEST_CHANGES, "Say how the split was made.")
    project = round_.project
    project.refresh_from_db()
    answer_save(
        actor=project.owner, project=project, item=item, status=AnswerStatus.MET, justification="", evidence_text=text
    )
    return project_submit(actor=project.owner, project=project)


def test_navigation_urls_follow_the_script_prefix(db):
    """base.html's URLs are looked up once per process, but per script prefix: a site mounted
    under a path (SCRIPT_NAME) gets its own, not those of the first request served."""
    from django.urls import get_script_prefix, set_script_prefix

    from reviews.templatetags.review_tags import site_url

    before = get_script_prefix()
    try:
        set_script_prefix("/")
        assert site_url("project-list") == reverse("project-list") == "/projects/"
        set_script_prefix("/misyn/")
        assert site_url("project-list") == reverse("project-list") == "/misyn/projects/"
        assert site_url("api:docs") == reverse("api:docs")
    finally:
        set_script_prefix(before)


def test_frozen_rows_follow_the_file_links_and_hold_nothing_of_a_viewer(project, admin_user):
    """Each row's frozen column is kept per round, but a stored file that goes away after the
    round was frozen shows as no longer stored on the next request; and the viewer's own
    state (a draft, what changed for them) is never in what is kept."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from reviews.models import EvidenceFile
    from reviews.services.projects import evidence_add
    from reviews.validators import validate_evidence_file

    answer_everything(project, text=EVIDENCE)
    item = items_of_version(project)[0]
    upload = validate_evidence_file(SimpleUploadedFile("split.txt", b"SPLIT-BYTES", content_type="text/plain"))
    (stored,) = evidence_add(actor=project.owner, project=project, item=item, files=[upload])
    round_ = project_submit(actor=project.owner, project=project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    link = reverse("evidence-download", kwargs={"pk": project.pk, "evidence_pk": stored.pk})
    review_draft_save(actor=technical, round_=round_, fields={f"verdict_{item.code}": Verdict.CONCERN})
    status, page = page_of(technical, round_)
    assert status == 200 and f'<a href="{link}">split.txt</a>' in page
    assert f'id="id_verdict_{item.code}_2" checked>' in page

    status, theirs = page_of(clinical, round_)  # the same frozen column, the other reviewer's controls
    assert status == 200 and f'<a href="{link}">split.txt</a>' in theirs
    assert f'id="id_verdict_{item.code}_0" checked>' in theirs

    EvidenceFile.objects.filter(pk=stored.pk).delete()
    for user in (technical, admin_user):
        status, page = page_of(user, round_)
        assert status == 200 and link not in page
        assert 'split.txt <span class="text-muted">(no longer stored)</span>' in page


def items_of_version(project) -> list[GuidelineItem]:  # type: ignore[no-untyped-def]
    return list(GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order"))


def test_the_review_page_runs_a_fixed_number_of_queries(round1, team, admin_user, django_assert_num_queries):
    """As many queries whether the other reviewer has not started or has submitted and signed."""
    technical, clinical = team
    client = Client()
    client.force_login(technical)
    client.get(url_of(round1))
    # session, user, project, the reviewer's assignment (may they see it), the round (with its
    # version, policy, outcome, latest number and the viewer's draft), the reviews (submitted and
    # the viewer's own), signatures, the signers who count, waivers, the unread notifications;
    # no audit run is looked up, as this round froze no image set (with one: +1, +2 while none
    # finished, audits.selectors.round_audits)
    with django_assert_num_queries(10):
        before = client.get(url_of(round1))
    review(round1, clinical)
    sign(round1, clinical)
    with django_assert_num_queries(10):
        after = client.get(url_of(round1))

    assert before.status_code == after.status_code == 200
    assert "Carl Clinical" not in before.content.decode()
