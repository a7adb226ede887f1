"""Views (being written)."""
from django.http import Http404

def project_withdraw_view(request, **kwargs):
    raise Http404


def project_amend_view(request, **kwargs):
    raise Http404


def round_sign_view(request, **kwargs):
    raise Http404


