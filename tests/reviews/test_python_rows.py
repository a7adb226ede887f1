"""The rows that the project list, every review and the review page write in Python (issue 13:
reviews/templatetags/list_rows.py and review_rows.py) are the HTML their template loops wrote.

Each test renders the template loop the page had before, kept here as the reference, over the
rows the page itself built for its viewer, and compares it with the page's rows byte for byte;
then checks what a user would notice: text typed by people shown as text, the researcher column
for administrators only, the verdicts of other reviewers only where the page shows them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.template import engines
from django.test import Client
from django.urls import reverse

from reviews.enums import Meaning, Verdict
from reviews.models import Project, Round, User
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import VerdictInput, review_draft_save, round_review_save
from reviews.templatetags.list_rows import assignment_rows, project_rows
from reviews.templatetags.review_rows import review_rows
from reviews.templatetags.review_tags import object_url
from tests.reviews import test_lists
from tests.workflow import answer_everything, reviewers_on, sign

portfolio = test_lists.portfolio

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'

PROJECT_LOOP = """{% for project in projects %}
    <tr>
      <td class="stack-title"><a href="{{ project.get_absolute_url }}">{{ project.title }}</a></td>
      {% if manage_users %}<td data-label="Researcher">{{ project.owner.display_name }}</td>{% endif %}
      <td class="small" data-label="Task">{{ project.get_synthesis_task_display }}</td>
      <td data-label="Status">{% include "reviews/_status_badge.html" with status=project.status label=project.get_status_display %}</td>
      <td class="small" data-label="Checklist">{{ project.answered }} / {{ project.item_total|default:0 }} answered</td>
      <td data-label="Rounds">{{ project.round_count }}</td>
      <td class="small text-nowrap" data-label="First submitted (UTC)">{% if project.first_submitted_at %}{{ project.first_submitted_at|date:"Y-m-d" }}{% else %}<span class="text-muted">not yet</span>{% endif %}</td>
      <td class="small text-nowrap" data-label="Updated (UTC)">{{ project.updated_at|date:"Y-m-d H:i" }}</td>
    </tr>
  {% endfor %}"""  # fmt: skip

ASSIGNMENT_LOOP = """{% for assignment in assignments %}
    <tr class="{% if assignment.late %}table-warning{% elif not assignment.is_active %}text-muted{% endif %}">
      <td class="stack-title">{{ assignment.reviewer.display_name }}<div class="small text-muted fw-normal">{{ assignment.reviewer.get_expertise_display|default:"" }}</div></td>
      <td data-label="Project"><a href="{{ assignment.project.get_absolute_url }}">{{ assignment.project.title }}</a>
        <div class="small">{% include "reviews/_status_badge.html" with status=assignment.project.status label=assignment.project.get_status_display %} <span class="text-muted">· submitted by {{ assignment.project.owner.display_name }}</span></div></td>
      <td data-label="Status"><span class="badge {% if assignment.status == 'accepted' %}text-bg-success{% elif assignment.status == 'invited' %}text-bg-primary{% else %}text-bg-secondary{% endif %}">{{ assignment.get_status_display }}</span>{% if assignment.is_active and assignment.has_conflict %} <span class="badge text-bg-danger">Conflict declared</span>{% endif %}</td>
      <td class="text-nowrap" data-label="Due (UTC)">{{ assignment.due_date|date:"Y-m-d" }}{% if assignment.late %} <span class="badge text-bg-warning overdue-flag">overdue</span>{% endif %}</td>
      <td data-label="Round">{% if assignment.round_number %}<a href="{% url 'round-detail' assignment.project.pk assignment.round_number %}">Round {{ assignment.round_number }}</a>{% else %}—{% endif %}</td>
      <td class="small" data-label="Review">{% if assignment.review_submitted_at %}<i class="bi bi-check2-circle text-success" aria-hidden="true"></i> submitted {{ assignment.review_submitted_at|date:"Y-m-d" }}{% elif assignment.status == "accepted" and assignment.round_number %}not submitted{% else %}—{% endif %}</td>
      <td class="text-end stack-actions">{% if assignment.project.status != "withdrawn" and assignment.project.status != "draft" %}<a class="btn btn-sm btn-outline-primary" href="{% url 'assignment-list' assignment.project.pk %}">Reviewers<span class="visually-hidden"> of {{ assignment.project.title }}</span></a>{% endif %}</td>
    </tr>
  {% endfor %}"""  # fmt: skip

REVIEW_LOOP = """{% for row in rows %}
      <li class="list-group-item review-row{% if row.changed %} review-row-changed{% endif %}" id="item-{{ row.code }}"{% if row.changed %} data-changed{% endif %}>
        <div class="row g-3">
          <div class="col-lg-7">
            <div class="d-flex gap-2 align-items-start">
              <span class="item-code">{{ row.code }}</span>
              <div class="flex-grow-1">
                {% if row.changed %}<div class="changed-since mb-1"><span class="badge text-bg-warning"><i class="bi bi-pencil-square" aria-hidden="true"></i> Changed since round {{ carry.previous_number }}</span> <span class="small">{{ row.changed|join:"; " }}</span></div>{% endif %}
                {{ row.frozen_html }}
              </div>
            </div>
          </div>
          <div class="col-lg-5">
            {% if row.controls %}{% with c=row.controls %}
              <fieldset>
                <legend class="visually-hidden">Verdict on {{ row.code }}</legend>
                <div class="btn-group btn-group-sm flex-wrap verdict-choices" role="group" aria-label="Verdict on {{ row.code }}">
                  {{ c.radios_html }}
                </div>
                {% for error in c.verdict_errors %}<div class="invalid-feedback d-block">{{ error }}</div>{% endfor %}
              </fieldset>
              {% if row.changed and row.previous %}<div class="small text-muted mt-1 previous-verdict">Your round {{ carry.previous_number }} verdict: {{ row.previous.label }}{% if row.previous.comment %} — “{{ row.previous.comment|truncatechars:300 }}”{% endif %}</div>{% endif %}
              <label class="form-label small mt-2 mb-1" for="{{ c.comment_id }}">Comment on {{ row.code }}</label>
              <textarea name="{{ c.comment_name }}" cols="40" rows="2" class="form-control form-control-sm"{% if c.comment_max_length %} maxlength="{{ c.comment_max_length }}"{% endif %}{% if c.comment_errors %} aria-invalid="true"{% endif %}{% if c.comment_describedby %} aria-describedby="{{ c.comment_describedby }}"{% endif %} id="{{ c.comment_id }}">
{{ c.comment }}</textarea>
              {% for error in c.comment_errors %}<div class="invalid-feedback d-block">{{ error }}</div>{% endfor %}{% endwith %}
            {% elif row.own %}
              <div><span class="small text-muted">Your verdict:</span> <span class="badge text-bg-{{ row.own_colour }}">{{ row.own.get_verdict_display }}</span></div>
              {% if row.own.comment %}<div class="small mt-1">{{ row.own.comment|linebreaksbr }}</div>{% endif %}
            {% elif access.may_post %}
              <div class="small text-muted">No verdict given.</div>
            {% endif %}
            {% for other in row.others %}
              <div class="small mt-2 other-verdict"><strong>{{ other.reviewer.display_name }}</strong>: <span class="badge text-bg-{{ other.colour }}">{{ other.entry.get_verdict_display }}</span>
                {% if other.entry.comment %}<div>{{ other.entry.comment|linebreaksbr }}</div>{% endif %}</div>
            {% endfor %}
          </div>
        </div>
      </li>
    {% endfor %}"""  # fmt: skip


def reference(loop: str, context: dict[str, Any]) -> str:
    return str(engines["django"].from_string(loop).render(context))


def context_of(user: User, url: str, data: dict[str, str] | None = None) -> Any:
    client = Client()
    client.force_login(user)
    response = client.get(url) if data is None else client.post(url, data)
    assert response.status_code in (200, 400)
    return response.context


def test_project_rows_are_the_template_rows_for_each_viewer(portfolio):
    Project.objects.filter(title__startswith="Alpha").update(title=HOSTILE)
    portfolio.admin.full_name = HOSTILE
    portfolio.admin.save()
    for user, manages in ((portfolio.admin, True), (portfolio.rosa, False)):
        context = context_of(user, reverse("project-list"))
        projects = context["projects"]
        assert user.has_perm("reviews.manage_users") is manages  # what the page's template asks `perms`
        ours = str(project_rows(projects, manages))
        assert ours == reference(PROJECT_LOOP, {"projects": projects, "manage_users": manages})
        assert ('data-label="Researcher"' in ours) is manages
    admin_rows = str(project_rows(context_of(portfolio.admin, reverse("project-list"))["projects"], True))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in admin_rows
    assert "<script>" not in admin_rows
    assert "Rosa Researcher" in admin_rows and "not yet" in admin_rows


def test_assignment_rows_are_the_template_rows(portfolio):
    Project.objects.filter(title__startswith="Bravo").update(title=HOSTILE)
    context = context_of(portfolio.admin, reverse("review-list"))
    assignments = context["assignments"]
    ours = str(assignment_rows(assignments))
    assert ours == reference(ASSIGNMENT_LOOP, {"assignments": assignments})
    assert "overdue-flag" in ours and "table-warning" in ours and "not submitted" in ours
    assert "<script>" not in ours and "of &lt;script&gt;" in ours


@pytest.fixture
def reviewed_twice(project, admin_user) -> tuple[Round, User, User]:
    """Round 2 of a project whose round 1 the technical reviewer submitted (comments typed as
    HTML) and the clinical one never did, with a changed answer; the technical reviewer has a
    draft of round 2."""
    answer_everything(project)
    round1 = project_submit(actor=project.owner, project=project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    items = list(round1.guideline_version.items.order_by("stage__order", "order"))
    verdicts = [VerdictInput(item=item, verdict=Verdict.CONCERN, comment=f"{HOSTILE}\nline 2 " * 30) for item in items]
    round_review_save(
        actor=technical,
        round_=round1,
        verdicts=verdicts,
        declared_phase=1,
        overclaim="within",
        overclaim_note="",
        submit=True,
    )
    sign(round1, technical, Meaning.REQUEST_CHANGES, "Say how.")
    project.refresh_from_db()
    for item in items[:2]:
        answer_save(
            actor=project.owner, project=project, item=item, status="met", justification="", evidence_text="New."
        )
    round2 = project_submit(actor=project.owner, project=project)
    review_draft_save(actor=technical, round_=round2, fields={f"comment_{items[3].code}": HOSTILE})
    return round2, technical, clinical


def test_review_rows_are_the_template_rows_for_each_viewer(reviewed_twice, admin_user):
    round2, technical, clinical = reviewed_twice
    round1 = Round.objects.get(project=round2.project, number=1)
    url1 = reverse("round-review", kwargs={"pk": round1.project_id, "number": 1})
    url2 = reverse("round-review", kwargs={"pk": round2.project_id, "number": 2})
    refused = {"action": "submit", f"verdict_{round2.snapshot['answers'][0]['item']}": Verdict.CONCERN}
    shown = []
    for user, url, data in (
        (technical, url2, None),  # editable, carried forward, two items changed
        (technical, url2, refused),  # a refused submission, errors shown
        (technical, url1, None),  # superseded, submitted: own verdicts
        (clinical, url1, None),  # superseded, never reviewed: no verdict given
        (admin_user, url1, None),  # read-only, the submitted verdicts
    ):
        context = context_of(user, url, data)
        carry, access = context["carry"], context["access"]
        previous_number = carry.previous_number if carry is not None else ""
        for stage in context["stages"]:
            ours = str(review_rows(stage.rows, previous_number, access.may_post))
            assert ours == reference(REVIEW_LOOP, {"rows": stage.rows, "carry": carry, "access": access})
            shown.append(ours)
    page = "".join(shown)
    assert "previous-verdict" in page and "data-changed" in page and "invalid-feedback" in page
    assert "other-verdict" in page and "Your verdict:" in page and "No verdict given." in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_row_links_follow_the_script_prefix(project):
    """The rows' addresses are looked up once per process, but per script prefix: a site mounted
    under a path gets its own, not those of the first request served."""
    from django.urls import get_script_prefix, set_script_prefix

    before = get_script_prefix()
    try:
        set_script_prefix("/")
        assert object_url("project-detail", project.pk) == project.get_absolute_url() == f"/projects/{project.pk}/"
        set_script_prefix("/misyn/")
        assert object_url("project-detail", project.pk) == project.get_absolute_url()
        assert project.get_absolute_url() == f"/misyn/projects/{project.pk}/"
    finally:
        set_script_prefix(before)
