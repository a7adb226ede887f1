"""The decision letter, its public verification page and the round's exports.

The letter and the exports are read with the round page's own checks: get_project (the
reviews.view_project rule: owner, admins, accepted reviewers; 404 for anyone else) and
project_round (404 for a round of another project). The verification page is public: holding
the round's 64-hex digest means holding the letter, and the page shows no more than the letter.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from config.site import site_url
from letters.pdf import LetterUnavailable, render_pdf
from letters.selectors import (
    decided_round_by_digest,
    export_csv,
    export_json,
    has_decision,
    is_digest,
    letter_for,
    verify_round,
)
from reviews.models import Round
from reviews.throttling import by_address, throttle_hit, throttled_response
from reviews.views.access import AuthedRequest, get_project
from reviews.views.reviewing import project_round

# The verification page's limit per address (settings.THROTTLE_RATES).
VERIFY_SCOPE = "verify-address"


def _frozen_round(request: AuthedRequest, pk: int, number: int) -> Round:
    project = get_project(request, pk)
    return project_round(project, number)


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def round_letter(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    round_ = _frozen_round(request, pk, number)
    if not has_decision(round_):
        return render(request, "letters/no_letter.html", {"round": round_, "project": round_.project}, status=404)
    letter = letter_for(round_, request.user)
    verify_url = site_url(request) + reverse("letter-verify", kwargs={"digest": round_.digest})
    # A record changed behind the application's back is printed as such, never as signed.
    context = {"letter": letter, "board": settings.BOARD_NAME, "verify_url": verify_url, "check": verify_round(round_)}
    html = render_to_string("letters/letter.html", context, request=None)
    try:
        pdf = render_pdf(html)
    except LetterUnavailable as error:
        return render(request, "letters/unavailable.html", {"reason": str(error), "round": round_}, status=503)
    response = HttpResponse(pdf, content_type="application/pdf")
    return _attachment(response, f"misyn-{round_.project_id}-round-{round_.number}-decision.pdf")


@login_required
@require_GET
def round_export_json(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    round_ = _frozen_round(request, pk, number)
    response = HttpResponse(export_json(round_, request.user).encode("utf-8"), content_type="application/json")
    return _attachment(response, f"misyn-{round_.project_id}-round-{round_.number}.json")


@login_required
@require_GET
def round_export_csv(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    round_ = _frozen_round(request, pk, number)
    # A byte-order mark, so that spreadsheet programs read the UTF-8 as UTF-8.
    body = "\ufeff" + export_csv(round_, request.user)
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
    return _attachment(response, f"misyn-{round_.project_id}-round-{round_.number}-checklist.csv")


@require_GET
def letter_verify_form(request: HttpRequest) -> HttpResponse:
    """Paste a digest: a well-formed one goes to its page, anything else is named as wrong."""
    raw = request.GET.get("digest")
    error = ""
    if raw is not None:
        digest = "".join(raw.split()).lower()
        if is_digest(digest):
            return redirect("letter-verify", digest=digest)
        error = (
            "Enter the digest exactly as printed on the letter: 64 characters, the digits 0 to 9 and the "
            f"letters a to f (you entered {len(digest)} characters"
            + ("" if set(digest) <= set("0123456789abcdef") else ", some of them not hexadecimal")
            + ")."
        )
    status = 400 if error else 200
    return render(request, "letters/verify_form.html", {"error": error, "value": (raw or "")[:200]}, status=status)


@require_GET
def letter_verify(request: HttpRequest, digest: str) -> HttpResponse:
    if address := by_address(request):
        retry_after = throttle_hit(VERIFY_SCOPE, address)
        if retry_after is not None:
            return throttled_response(request, scope=VERIFY_SCOPE, retry_after=retry_after)
    round_ = decided_round_by_digest(digest.lower())
    if round_ is None:
        return render(request, "letters/verify_unknown.html", {"digest": digest[:64]}, status=404)
    return render(request, "letters/verify.html", {"check": verify_round(round_), "board": settings.BOARD_NAME})
