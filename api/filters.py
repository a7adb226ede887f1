"""The API's list filters: the pages' own FilterSets (reviews.filters), read from the query string."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict, ErrorList

from reviews.filters import ProjectFilter


class ApiProjectFilter(ProjectFilter):
    """The project list's filters and sort orders, exactly the page's (reviews.filters.ProjectFilter).

    For anyone but an administrator the page drops the board's filters (ADMIN_ONLY), so one
    typed into the URL anyway is ignored. An API client would then get the whole list back as
    if it were the answer; here such a parameter is refused instead, with a 400 naming it. That
    tells nothing about any project: the parameters are in the schema, and nothing is filtered.
    """

    # The page adds `sort` when a filter set is made; declared here too so the schema shows it.
    sort = django_filters.ChoiceFilter(
        label="Sort by",
        choices=[(key, label) for key, (label, _order) in ProjectFilter.SORTS.items()],
        method="_no_filter",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused = [name for name in self.ADMIN_ONLY if name in self.data and name not in self.filters]

    def is_valid(self) -> bool:
        return not self.refused and super().is_valid()

    @property
    def errors(self) -> ErrorDict:
        errors = ErrorDict(super().errors)
        for name in self.refused:
            errors[name] = ErrorList(
                [ValidationError("Only administrators may filter by this.", code="administrators_only")]
            )
        return errors
