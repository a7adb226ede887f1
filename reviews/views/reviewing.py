"""Views (being written)."""
from django.http import Http404

def round_review(request, **kwargs):
    raise Http404


def audit_waive_view(request, **kwargs):
    raise Http404


def round_diff(request, **kwargs):
    raise Http404


