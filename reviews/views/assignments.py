"""Views (being written)."""
from django.http import Http404

def assignment_list(request, **kwargs):
    raise Http404


def assignment_remove_view(request, **kwargs):
    raise Http404


def assignment_respond_view(request, **kwargs):
    raise Http404


def conflict_declare_view(request, **kwargs):
    raise Http404


def my_reviews(request, **kwargs):
    raise Http404


