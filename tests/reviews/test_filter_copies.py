"""A list's filters are copied per request without a deep copy, and the filter bar reads the
guideline versions once for both fields that offer them (issue 13, reviews.filters._fresh_filter
and reviews.templatetags.filter_bar). What a user would notice if either went wrong: one
request's filters, values or choices showing in the next, or an edit not showing at once.
"""

from __future__ import annotations

import re

from django.http import QueryDict
from django.test import RequestFactory
from django.urls import reverse

from reviews.filters import ProjectFilter
from reviews.models import GuidelineItem, GuidelineVersion, Project, Stage
from reviews.templatetags import filter_bar
from tests.factories import ReviewerFactory
from tests.reviews.test_lists import client_of, portfolio, text_of, titles

__all__ = ["portfolio"]

EVERY_PROJECT = {"Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"}


def options(page: str, name: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of each option of the select called `name`."""
    select = re.search(rf'<select name="{name}".*?</select>', page, re.S)
    assert select is not None, f"no {name} select on the page"
    return [
        (value, label.strip(), " selected" in attrs)
        for value, attrs, label in re.findall(r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', select.group(0))
    ]


def chosen(page: str, name: str) -> list[str]:
    return [value for value, _label, selected in options(page, name) if selected]


def test_a_filtered_list_leaves_nothing_behind_for_the_next_request(portfolio):
    admin = client_of(portfolio.admin)
    reviewer = str(portfolio.reviewer_a.pk)

    filtered = admin.get(f"{reverse('project-list')}?reviewer={reviewer}&must_change=EV-1")
    after = admin.get(reverse("project-list"))

    assert titles(filtered) == {"Echo"}
    assert chosen(text_of(filtered), "must_change") == ["EV-1"]
    assert chosen(text_of(filtered), "reviewer") == [reviewer]
    assert titles(after) == EVERY_PROJECT
    assert chosen(text_of(after), "reviewer") == [""]
    assert chosen(text_of(after), "must_change") == [""]
    assert "filtered by" not in text_of(after)


def test_two_filter_sets_at_once_each_filter_with_their_own_values(portfolio):
    """A filter with a method calls it on its own filter set; the declared filters stay bare."""
    request = RequestFactory().get("/projects/")
    request.user = portfolio.admin
    visible = Project.objects.all()
    overdue = ProjectFilter(QueryDict("overdue=1"), queryset=visible, request=request)
    invited = ProjectFilter(QueryDict("invited=1"), queryset=visible, request=request)

    assert {p.title.split()[0] for p in invited.qs} == {"Charlie"}
    assert {p.title.split()[0] for p in overdue.qs} == {"Bravo"}
    assert overdue.filters["overdue"].parent is overdue
    assert invited.filters["overdue"].parent is invited
    assert overdue.form.fields["status"] is not invited.form.fields["status"]
    assert not hasattr(ProjectFilter.base_filters["overdue"], "parent")
    assert "_field" not in ProjectFilter.base_filters["version"].__dict__


def test_both_version_filters_offer_every_version_and_an_edit_shows_at_once(portfolio, catalogue):
    admin = client_of(portfolio.admin)
    before = text_of(admin.get(reverse("project-list")))
    GuidelineVersion.objects.create(guideline_set=catalogue.guideline_set, number=120)
    catalogue.guideline_set.name = "Renamed set"
    catalogue.guideline_set.save()
    portfolio.reviewer_b.full_name = "Boris Renamed"
    portfolio.reviewer_b.save()
    after = text_of(admin.get(reverse("project-list")))

    for name in ("version", "decided_version"):
        labels = [label for value, label, _chosen in options(before, name) if value]
        assert len(labels) == GuidelineVersion.objects.count() - 1
        assert all(label.endswith(("v1", "v99")) or re.search(r" v\d+$", label) for label in labels)
        renamed = [label for value, label, _chosen in options(after, name) if value]
        assert "Renamed set v120" in renamed
        assert len(renamed) == GuidelineVersion.objects.count()
    assert options(before, "version")[1:] == options(before, "decided_version")[1:]
    assert "Boris Ethics" in [label for _v, label, _c in options(before, "reviewer")]
    assert [label for _v, label, _c in options(after, "reviewer")].count("Boris Renamed") == 1
    assert "Boris Ethics" not in after


def test_a_new_item_code_or_reviewer_shows_at_once(portfolio, catalogue):
    admin = client_of(portfolio.admin)
    admin.get(reverse("project-list"))
    newer = GuidelineVersion.objects.create(guideline_set=catalogue.guideline_set, number=121)
    stage = Stage.objects.create(version=newer, code="ZZ", name="Later stage", order=99)
    GuidelineItem.objects.create(
        version=newer, stage=stage, code="ZZ-7", requirement="A requirement added later", order=1
    )
    ReviewerFactory(full_name="Nadia Newcomer")

    page = text_of(admin.get(reverse("project-list")))

    assert "ZZ-7 · A requirement added later" in [label for _v, label, _c in options(page, "must_change")]
    assert "Nadia Newcomer" in [label for _v, label, _c in options(page, "reviewer")]


def test_the_bar_reads_its_choices_only_when_their_rows_changed(portfolio, django_assert_num_queries):
    """Warm, the bar costs one query (the digest of its choices' rows); cold, it also reads the
    versions (once for both version filters), the item codes and the reviewers to render them.
    (8 warm: the 7 of test_lists, and the item count of version 99, a draft, which is counted on
    every request: reviews.selectors.projects.version_item_totals.)"""
    admin = client_of(portfolio.admin)
    admin.get(reverse("project-list"))
    with django_assert_num_queries(8):
        warm = admin.get(reverse("project-list"))
    filter_bar._rendered.clear()
    with django_assert_num_queries(8 + 3):
        cold = admin.get(reverse("project-list"))

    def unmasked(response) -> str:  # a CSRF token is masked afresh on every page
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text_of(response))

    assert unmasked(cold) == unmasked(warm)
    assert "Boris Ethics" in unmasked(warm)
