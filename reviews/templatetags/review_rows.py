"""The review page's item rows (reviews/round_review.html), written in Python.

A round shows about 45 items; as template nodes each row's right column (the verdict controls,
the comment box, the viewer's own verdict, the other reviewers' verdicts) cost more than the
rest of the page (issue 13). `review_rows` writes the same HTML from the same values: every
value escaped as autoescaping would (`conditional_escape`), comments through the same
`linebreaksbr`, `truncatechars` and `join` filters the template used. The left column is the
row's `frozen_html` (reviews.views.reviewing.frozen_rows_html), the same for every viewer; what
belongs to the viewer (the controls, the "changed since" note, the verdicts they may see) is
on the row, computed for this request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.template.defaultfilters import join, linebreaksbr, truncatechars
from django.utils.safestring import SafeString

from reviews.templatetags.escaping import text as _e

register = template.Library()


def _errors(errors: Iterable[Any]) -> str:
    return "".join(f'<div class="invalid-feedback d-block">{_e(error)}</div>' for error in errors)


def _controls(row: Any, previous_number: Any) -> str:
    """The verdict radios and the comment box of an editable row."""
    c, code = row.controls, _e(row.code)
    previous = ""
    if row.changed and row.previous:
        comment = row.previous.comment
        quoted = f" — “{_e(truncatechars(comment, 300))}”" if comment else ""
        previous = (
            f'<div class="small text-muted mt-1 previous-verdict">Your round {_e(previous_number)} verdict: '
            f"{_e(row.previous.label)}{quoted}</div>"
        )
    attributes = (
        (f' maxlength="{_e(c.comment_max_length)}"' if c.comment_max_length else "")
        + (' aria-invalid="true"' if c.comment_errors else "")
        + (f' aria-describedby="{_e(c.comment_describedby)}"' if c.comment_describedby else "")
    )
    return f"""
              <fieldset>
                <legend class="visually-hidden">Verdict on {code}</legend>
                <div class="btn-group btn-group-sm flex-wrap verdict-choices" role="group" aria-label="Verdict on {code}">
                  {c.radios_html}
                </div>
                {_errors(c.verdict_errors)}
              </fieldset>
              {previous}
              <label class="form-label small mt-2 mb-1" for="{_e(c.comment_id)}">Comment on {code}</label>
              <textarea name="{_e(c.comment_name)}" cols="40" rows="2" class="form-control form-control-sm"{attributes} id="{_e(c.comment_id)}">
{_e(c.comment)}</textarea>
              {_errors(c.comment_errors)}
            """


def _own(row: Any) -> str:
    """The viewer's own verdict, read-only."""
    comment = (
        f'<div class="small mt-1">{linebreaksbr(row.own.comment, autoescape=True)}</div>' if row.own.comment else ""
    )
    return f"""
              <div><span class="small text-muted">Your verdict:</span> <span class="badge text-bg-{_e(row.own_colour)}">{_e(row.own.get_verdict_display())}</span></div>
              {comment}
            """


def _others(row: Any) -> str:
    """The other reviewers' verdicts the viewer may see (the view chose them)."""
    parts = []
    for other in row.others:
        comment = linebreaksbr(other.entry.comment, autoescape=True) if other.entry.comment else ""
        parts.append(
            f"""
              <div class="small mt-2 other-verdict"><strong>{_e(other.reviewer.display_name)}</strong>: <span class="badge text-bg-{_e(other.colour)}">{_e(other.entry.get_verdict_display())}</span>
                {f"<div>{comment}</div>" if comment else ""}</div>
            """
        )
    return "".join(parts)


def _row(row: Any, previous_number: Any, may_post: bool) -> str:
    code = _e(row.code)
    changed = ""
    if row.changed:
        changed = (
            '<div class="changed-since mb-1"><span class="badge text-bg-warning"><i class="bi bi-pencil-square" '
            f'aria-hidden="true"></i> Changed since round {_e(previous_number)}</span> '
            f'<span class="small">{join(row.changed, "; ", autoescape=True)}</span></div>'
        )
    if row.controls:
        right = _controls(row, previous_number)
    elif row.own:
        right = _own(row)
    elif may_post:
        right = '\n              <div class="small text-muted">No verdict given.</div>\n            '
    else:
        right = ""
    return f"""
      <li class="list-group-item review-row{" review-row-changed" if row.changed else ""}" id="item-{code}"{" data-changed" if row.changed else ""}>
        <div class="row g-3">
          <div class="col-lg-7">
            <div class="d-flex gap-2 align-items-start">
              <span class="item-code">{code}</span>
              <div class="flex-grow-1">
                {changed}
                {row.frozen_html}
              </div>
            </div>
          </div>
          <div class="col-lg-5">
            {right}
            {_others(row)}
          </div>
        </div>
      </li>
    """


@register.simple_tag
def review_rows(rows: Iterable[Any], previous_number: Any, may_post: bool) -> SafeString:
    """The `<li>` of each row of a stage: `previous_number` is the round the carried-forward
    verdicts come from ("" without one), `may_post` whether the viewer reviews this round."""
    return SafeString("".join(_row(row, previous_number, may_post) for row in rows))
