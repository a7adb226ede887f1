"""Search, filters and sort orders of the lists, as django-filter FilterSets read from the URL.

Every parameter lives in the query string, so a filtered list is a bookmark and a link (the
board dashboard links to the project list with these names). A FilterSet narrows the queryset
it is given and never widens it: the project list hands it only the projects the user may see.
Filters only an administrator may use are removed for everyone else, so they are neither shown
nor applied.

The definitions that a dashboard counts with (what "overdue", "unassigned" and "invited" mean)
are the module-level Q builders below, so a count and the list behind it always agree.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import django_filters
from django import forms
from django.db.models import (
    Case,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Lower
from django.http import QueryDict
from django.utils import timezone
from django_filters.filters import Filter, FilterMethod

from audits.enums import AuditName, RunStatus
from audits.models import AuditRun
from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    UNDER_REVIEW_STATUSES,
    AssignmentStatus,
    ExpertiseKind,
    Modality,
    Outcome,
    ProjectStatus,
    Role,
    SynthesisTask,
    Verdict,
)
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineItem,
    GuidelineVersion,
    ItemReview,
    Project,
    Round,
    RoundOutcome,
    User,
)
from reviews.rules import is_admin

AUDIT_STATUS_CHOICES = [
    ("pass", "Pass"),
    ("warn", "Warning"),
    ("fail", "Fail"),
    ("not_computable", "Not computable"),
]
# Lifecycle order, for sorting by status.
STATUS_ORDER = [status.value for status in ProjectStatus]
SEARCH_MAX = 200


# ---- shared definitions (also used by the board dashboard's counts) ---------------------------


def overdue_assignment_q(today: date | None = None, prefix: str = "") -> Q:
    """An assignment still held (invited or accepted) past its due date, on a project that waits
    on its reviewers: once the project is decided or back with the researcher, nothing is late."""
    today = today or timezone.localdate()
    return Q(
        **{
            f"{prefix}status__in": sorted(ACTIVE_ASSIGNMENT_STATUSES),
            f"{prefix}due_date__lt": today,
            f"{prefix}project__status__in": sorted(UNDER_REVIEW_STATUSES),
        }
    )


def has_overdue_assignment(today: date | None = None) -> Exists:
    return Exists(Assignment.objects.filter(overdue_assignment_q(today), project=OuterRef("pk")))


def has_active_assignment() -> Exists:
    return Exists(Assignment.objects.filter(project=OuterRef("pk"), status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES)))


def unassigned_project_q() -> Q:
    """Submitted or in review, and no reviewer holds a place on it."""
    return Q(Q(status__in=sorted(UNDER_REVIEW_STATUSES)), ~has_active_assignment())


def has_open_invitation() -> Exists:
    return Exists(Assignment.objects.filter(project=OuterRef("pk"), status=AssignmentStatus.INVITED))


# A decision, for the board: a round approved or rejected (a change request is no decision).
DECISIONS = (Outcome.APPROVED, Outcome.REJECTED)


def first_decision_version() -> Subquery:
    """The guideline version of the round whose approval or rejection was the project's first
    decision (the board's turnaround groups by it), or NULL for a project never decided."""
    first = RoundOutcome.objects.filter(round__project=OuterRef("pk"), outcome__in=DECISIONS).order_by(
        "decided_at", "pk"
    )
    return Subquery(first.values("round__guideline_version")[:1])


def latest_audit_status(audit: str) -> Subquery:
    """The status of one audit in the project's newest succeeded run (audits.selectors._status_keys)."""
    runs = AuditRun.objects.filter(project=OuterRef("pk"), status=RunStatus.SUCCEEDED).order_by("-created_at", "-pk")
    return Subquery(runs.annotate(audit_status=KT(f"results__{audit}__status")).values("audit_status")[:1])


# ---- the common part of every list's filters --------------------------------------------------


@dataclass(frozen=True)
class ActiveFilter:
    """One filter in use, as the bar lists it, with the link that drops it."""

    name: str
    label: str
    value: str
    remove_url: str


def _fresh_filter(filter_: Filter) -> Filter:
    """A filter set's own copy of a declared filter: what the filter set changes or builds on it
    (its parent, model, `extra` and the form field it makes) is the copy's alone; what it only
    reads (labels, choices, querysets, widgets, which the form field copies when it is built) is
    shared with the declaration."""
    clone = copy.copy(filter_)
    clone.__dict__.pop("_field", None)  # built per filter set, from the copy
    clone.extra = dict(filter_.extra)
    if filter_.method is not None:
        clone.filter = FilterMethod(clone)  # the method of the copy's parent, not the declaration's
    return clone


class _OwnFields(dict):  # type: ignore[type-arg]
    """A form class's fields that a form made from it takes as they are (BaseForm deep-copies
    its class's fields): see ListFilterSet.get_form_class."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


def _code_key(code: str) -> tuple[str, int, str]:
    match = re.match(r"^([A-Za-z]+)-?(\d+)(.*)$", code)
    return (match.group(1), int(match.group(2)), match.group(3)) if match else (code, 0, "")


class ListFilterSet(django_filters.FilterSet):
    """Adds the sort order, the admin-only filters and the list of filters in use."""

    # Sort key -> (label, ordering). The first is the default.
    SORTS: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {}
    ADMIN_ONLY: ClassVar[tuple[str, ...]] = ()
    # Shown in the bar's first row; the rest sit under "More filters".
    PRIMARY: ClassVar[tuple[str, ...]] = ("q",)
    # Parameters that are not filters: the page and the sort order.
    NOT_FILTERS: ClassVar[frozenset[str]] = frozenset({"sort", "page"})
    # The fields the search box looks in: every word must be in one of them.
    SEARCH_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        data: QueryDict | None = None,
        queryset: QuerySet[Any] | None = None,
        *,
        request: Any = None,
        prefix: str | None = None,
    ) -> None:
        # django_filters.FilterSet.__init__, with each filter copied by _fresh_filter instead of
        # copy.deepcopy: a deep copy copies every declared queryset's query and every choice list,
        # about 1,000 objects per list page (issue 13).
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = OrderedDict((name, _fresh_filter(filter_)) for name, filter_ in self.base_filters.items())
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self
        user = getattr(request, "user", None)
        if not is_admin(user):
            for name in self.ADMIN_ONLY:
                self.filters.pop(name, None)
        self.filters["sort"] = django_filters.ChoiceFilter(
            label="Sort by",
            choices=[(key, label) for key, (label, _order) in self.SORTS.items()],
            empty_label=None,
            method="_no_filter",
        )
        self.filters["sort"].model = self.queryset.model
        self.filters["sort"].parent = self

    def get_form_class(self) -> type[forms.Form]:
        """The filter set's form, whose fields are not deep-copied again when it is made: they are
        this filter set's own (built by its fresh filters), never shared with another request.
        The form knows its filter set (`filter_set`), for the filter bar's choice_digests."""
        form_class = super().get_form_class()
        form_class.base_fields = _OwnFields(form_class.base_fields)  # type: ignore[attr-defined]
        form_class.filter_set = self  # type: ignore[attr-defined]
        return form_class

    def choice_digests(self) -> dict[str, str]:
        """Field name -> a digest of every row that decides the field's choices (their values,
        labels and order), for the fields whose choices are read from the database: the filter
        bar (templatetags.filter_bar) keys a field's rendering by it instead of reading its
        choices. All of them from one query. A field left out reads its choices as before."""
        return {}

    @staticmethod
    def _digests(sources: dict[str, QuerySet[Any]], fields: dict[str, str]) -> dict[str, str]:
        """`sources`: name -> a values_list of (name, then four columns as text) of the rows one
        kind of choice is made of; `fields`: field name -> the source of its choices."""
        first, *rest = [rows.order_by() for rows in sources.values()]
        found: dict[str, list[tuple[Any, ...]]] = {name: [] for name in sources}
        for row in first.union(*rest, all=True) if rest else first:
            found[row[0]].append(row)
        digest = {name: hashlib.sha256(repr(sorted(rows)).encode()).hexdigest() for name, rows in found.items()}
        return {field: digest[source] for field, source in fields.items()}

    def _no_filter(self, queryset: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        return queryset

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        for word in value.split()[:10]:
            anywhere = Q()
            for field_name in self.SEARCH_FIELDS:
                anywhere |= Q(**{f"{field_name}__icontains": word})
            queryset = queryset.filter(anywhere)
        return queryset

    @property
    def default_sort(self) -> str:
        return next(iter(self.SORTS))

    @property
    def sort(self) -> str:
        chosen = self.form.cleaned_data.get("sort") if self.is_valid() else None
        return chosen or self.default_sort

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        return self.sort_queryset(queryset, self.sort)

    def sort_queryset(self, queryset: QuerySet[Any], sort: str) -> QuerySet[Any]:
        return queryset.order_by(*self.SORTS[sort][1])

    def page_rows(self) -> QuerySet[Any]:
        """The filtered rows, or none while a filter is invalid: a list that silently ignores a
        mistyped filter would look like an answer to the question asked."""
        return self.qs if self.is_valid() else self.queryset.none()

    def active(self) -> list[ActiveFilter]:
        """The filters in use, each with its value as the form shows it."""
        if not self.is_bound or not self.is_valid():
            return []
        if hasattr(self, "_active"):
            return self._active
        found = []
        for name, value in self.form.cleaned_data.items():
            if name in self.NOT_FILTERS or value in (None, "", [], (), False):
                continue
            field = self.form.fields[name]
            found.append(
                ActiveFilter(
                    name=name,
                    label=str(field.label or name),
                    value=self._value_label(field, value),
                    remove_url=self.url_without(name),
                )
            )
        self._active: list[ActiveFilter] = found
        return found

    @property
    def is_filtered(self) -> bool:
        return bool(self.active())

    def url_without(self, *names: str) -> str:
        query = self.data.copy()
        for name in (*names, "page"):
            query.pop(name, None)
        encoded = query.urlencode()
        return f"?{encoded}" if encoded else "?"

    @property
    def clear_url(self) -> str:
        """Every filter dropped; the sort order kept."""
        sort = self.data.get("sort")
        return f"?sort={sort}" if sort and self.is_valid() and sort != self.default_sort else "?"

    @staticmethod
    def _value_label(field: forms.Field, value: Any) -> str:
        if isinstance(value, bool):
            return "yes"
        if isinstance(value, date):
            return value.isoformat()
        if hasattr(value, "pk"):  # a model choice: its own name, without reading every choice again
            return str(value)
        choices = dict(iter(getattr(field, "choices", ())))
        if isinstance(value, (list, tuple)):
            return ", ".join(str(choices.get(v, v)) for v in value)
        return str(choices.get(value, value))

    def primary_fields(self) -> list[forms.BoundField]:
        """The first row's fields beside the search box."""
        return [self.form[name] for name in self.PRIMARY if name in self.form.fields and name != "q"]

    @property
    def more_open(self) -> bool:
        """Open "More filters" when one of them is in use or wrong, so nothing in force is hidden."""
        names = {field.name for field in self.more_fields()}
        in_use = {active.name for active in self.active()}
        return bool(names & (in_use | set(self.form.errors if self.is_bound else ())))

    def more_fields(self) -> list[forms.BoundField]:
        return [
            self.form[name]
            for name in self.form.fields
            if name not in self.PRIMARY and name != "sort" and not self.form.fields[name].widget.is_hidden
        ]

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [("primary", self.primary_fields()), ("more", self.more_fields())]

    def error_list(self) -> list[tuple[str, str, str]]:
        """Each wrong filter: its label, what is wrong, and the value given."""
        found = []
        for name, errors in self.form.errors.items():
            field = self.form.fields.get(name)
            label = str(field.label or name) if field is not None else "Filters"
            given = ", ".join(self.data.getlist(name)) if name in self.data else ""
            found += [(label, str(error), given) for error in errors]
        return found

    def hidden_fields(self) -> list[forms.BoundField]:
        return [field for field in self.form if field.is_hidden]


def _search_filter(label: str) -> django_filters.CharFilter:
    return django_filters.CharFilter(
        label="Search",
        method="search",
        max_length=SEARCH_MAX,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": label}),
    )


def _flag(label: str) -> django_filters.BooleanFilter:
    """A yes-only flag: `?name=1` (or a ticked box) turns it on; absent, it does nothing."""
    return django_filters.BooleanFilter(label=label, method="flag", widget=forms.CheckboxInput(attrs={"value": "1"}))


def _reviewers(request: Any = None) -> QuerySet[User]:
    return User.objects.filter(role=Role.REVIEWER).order_by("full_name", "username")


def _text(*names: str) -> list[Cast]:
    return [Cast(name, TextField()) for name in names]


def _choice_rows(kind: str, rows: QuerySet[Any], *names: str) -> QuerySet[Any]:
    """The columns `names` of `rows` as text, after the name of the kind of choice they make
    (for ListFilterSet._digests: every source of one union has the same columns)."""
    padding = [Value("", output_field=TextField())] * (4 - len(names))
    return rows.values_list(Value(kind, output_field=TextField()), *_text(*names), *padding)


def _reviewer_rows() -> QuerySet[Any]:
    """What a reviewer choice shows (User.__str__) and is ordered by; the queryset is _reviewers'."""
    return _choice_rows("reviewer", _reviewers(), "pk", "full_name", "username")


def _item_code_choices() -> list[tuple[str, str]]:
    """Every item code of every version, with the newest version's wording of it."""
    wording: dict[str, str] = {}
    for code, requirement in GuidelineItem.objects.order_by("code", "-version__number", "-pk").values_list(
        "code", "requirement"
    ):
        wording.setdefault(code, requirement)
    return [
        (code, f"{code} · {text[:60]}{'…' if len(text) > 60 else ''}")
        for code, text in sorted(wording.items(), key=lambda pair: _code_key(pair[0]))
    ]


# ---- projects -------------------------------------------------------------------------------


class ProjectFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        after, before = data.get("submitted_after"), data.get("submitted_before")
        if after and before and after > before:
            self.add_error("submitted_before", "Must be on or after “Submitted from”.")
        audit, status = data.get("audit"), data.get("audit_status")
        if audit and not status:
            self.add_error("audit_status", "Choose the status the audit must have.")
        if status and not audit:
            self.add_error("audit", "Choose the audit whose status to match.")
        return data


class ProjectFilter(ListFilterSet):
    """The project list's filters (issue 11). Give it the projects the user may see."""

    SORTS: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "-updated": ("Last changed, newest first", (F("updated_at").desc(), F("pk").desc())),
        "updated": ("Last changed, oldest first", (F("updated_at").asc(), F("pk").asc())),
        "title": ("Title, A to Z", (Lower("title").asc(), F("pk").asc())),
        "-title": ("Title, Z to A", (Lower("title").desc(), F("pk").desc())),
        "status": ("Status, draft to suspended", (F("status_rank").asc(), F("updated_at").desc(), F("pk").desc())),
        "-status": ("Status, suspended to draft", (F("status_rank").desc(), F("updated_at").desc(), F("pk").desc())),
        "-submitted": (
            "First submitted, newest first",
            (F("first_submitted_at").desc(nulls_last=True), F("pk").desc()),
        ),
        "submitted": (
            "First submitted, oldest first",
            (F("first_submitted_at").asc(nulls_last=True), F("pk").asc()),
        ),
    }
    # The board's filters: who reviews, what is late, and what reviewers found (verdicts, audit
    # results, waivers), which the owner and reviewers may not read before the round ends (or,
    # for an invited reviewer, at all): a filter must never answer what a page would refuse.
    ADMIN_ONLY = (
        "reviewer",
        "overdue",
        "unassigned",
        "invited",
        "must_change",
        "audit",
        "audit_status",
        "waived",
        "decided_version",
    )
    PRIMARY = ("q", "status")

    q = _search_filter("Title, summary or researcher")
    SEARCH_FIELDS = (
        "title",
        "summary",
        "owner__full_name",
        "owner__username",
    )
    status = django_filters.MultipleChoiceFilter(
        label="Status", choices=ProjectStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    version = django_filters.ModelChoiceFilter(
        label="Guideline version",
        field_name="guideline_version",
        queryset=GuidelineVersion.objects.select_related("guideline_set").order_by("guideline_set__name", "-number"),
        empty_label="Any version",
    )
    modality = django_filters.ChoiceFilter(
        label="Modality", choices=Modality.choices, method="filter_modality", empty_label="Any modality"
    )
    task = django_filters.ChoiceFilter(
        label="Synthesis task", field_name="synthesis_task", choices=SynthesisTask.choices, empty_label="Any task"
    )
    submitted_after = django_filters.DateFilter(
        label="Submitted from",
        method="filter_submitted",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="First submission, UTC.",
    )
    submitted_before = django_filters.DateFilter(
        label="Submitted until",
        method="filter_submitted",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    must_change = django_filters.ChoiceFilter(
        label="Item marked “must change”", choices=_item_code_choices, method="filter_must_change", empty_label="Any"
    )
    audit = django_filters.ChoiceFilter(
        label="Audit", choices=AuditName.choices, method="_no_filter", empty_label="Any audit"
    )
    audit_status = django_filters.ChoiceFilter(
        label="Latest audit result", choices=AUDIT_STATUS_CHOICES, method="_no_filter", empty_label="Any result"
    )
    waived = django_filters.ChoiceFilter(
        label="Audit waived", choices=AuditName.choices, method="filter_waived", empty_label="Any"
    )
    decided_version = django_filters.ModelChoiceFilter(
        label="First decided on version",
        queryset=GuidelineVersion.objects.select_related("guideline_set").order_by("guideline_set__name", "-number"),
        method="filter_decided_version",
        empty_label="Any",
        help_text="The version of the round whose approval or rejection was the first decision.",
    )
    reviewer = django_filters.ModelChoiceFilter(
        label="Reviewer", queryset=_reviewers, method="filter_reviewer", empty_label="Any reviewer"
    )
    overdue = _flag("Has an overdue review")
    unassigned = _flag("Waiting for reviewers")
    invited = _flag("Has an unanswered invitation")

    class Meta:
        model = Project
        fields: list[str] = []
        form = ProjectFilterForm

    def choice_digests(self) -> dict[str, str]:
        """The versions (GuidelineVersion.__str__ is the set's name and the number), the items
        (_item_code_choices: code, wording, version number, id) and the reviewers; the
        admin-only fields only for an administrator, who has them."""
        sources = {
            "version": _choice_rows("version", GuidelineVersion.objects.all(), "pk", "number", "guideline_set__name")
        }
        fields = {"version": "version"}
        if "must_change" in self.filters:
            sources["item"] = _choice_rows(
                "item", GuidelineItem.objects.all(), "pk", "code", "requirement", "version__number"
            )
            sources["reviewer"] = _reviewer_rows()
            fields |= {"decided_version": "version", "must_change": "item", "reviewer": "reviewer"}
        return self._digests(sources, fields)

    def filter_modality(self, queryset: QuerySet[Project], name: str, value: str) -> QuerySet[Project]:
        # `modalities` is a JSON list. JSON containment is PostgreSQL only; the list's JSON text
        # holds each code in quotes on both databases, and codes are validated choices.
        return queryset.alias(modalities_text=Cast("modalities", TextField())).filter(
            modalities_text__contains=f'"{value}"'
        )

    def filter_submitted(self, queryset: QuerySet[Project], name: str, value: date) -> QuerySet[Project]:
        bound = "gte" if name == "submitted_after" else "lte"
        first = Round.objects.filter(project=OuterRef("pk"), number=1, **{f"submitted_at__date__{bound}": value})
        return queryset.filter(Exists(first))

    def filter_must_change(self, queryset: QuerySet[Project], name: str, value: str) -> QuerySet[Project]:
        verdicts = ItemReview.objects.filter(
            review__round__project=OuterRef("pk"),
            review__submitted_at__isnull=False,
            item__code=value,
            verdict=Verdict.MUST_CHANGE,
        )
        return queryset.filter(Exists(verdicts))

    def filter_decided_version(
        self, queryset: QuerySet[Project], name: str, value: GuidelineVersion
    ) -> QuerySet[Project]:
        return queryset.alias(decided_version=first_decision_version()).filter(decided_version=value.pk)

    def filter_waived(self, queryset: QuerySet[Project], name: str, value: str) -> QuerySet[Project]:
        return queryset.filter(Exists(AuditWaiver.objects.filter(round__project=OuterRef("pk"), audit=value)))

    def filter_reviewer(self, queryset: QuerySet[Project], name: str, value: User) -> QuerySet[Project]:
        held = Assignment.objects.filter(
            project=OuterRef("pk"), reviewer=value, status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES)
        )
        return queryset.filter(Exists(held))

    def flag(self, queryset: QuerySet[Project], name: str, value: bool) -> QuerySet[Project]:
        if not value:
            return queryset
        if name == "overdue":
            return queryset.filter(has_overdue_assignment())
        if name == "unassigned":
            return queryset.filter(unassigned_project_q())
        return queryset.filter(has_open_invitation())

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        audit, status = self.form.cleaned_data.get("audit"), self.form.cleaned_data.get("audit_status")
        if audit and status:
            queryset = queryset.alias(latest_audit_status=latest_audit_status(audit)).filter(latest_audit_status=status)
        return super().filter_queryset(queryset)

    def sort_queryset(self, queryset: QuerySet[Any], sort: str) -> QuerySet[Any]:
        if sort.lstrip("-") == "status":
            rank = Case(
                *(When(status=status, then=Value(n)) for n, status in enumerate(STATUS_ORDER)),
                default=Value(len(STATUS_ORDER)),
                output_field=IntegerField(),
            )
            queryset = queryset.alias(status_rank=rank)
        if sort.lstrip("-") == "submitted":
            # A join on round 1 (one row per project at most), not a subquery per project: the
            # sort reads every project's first submission, and a hash join does that in one pass.
            queryset = queryset.alias(
                first_round=FilteredRelation("rounds", condition=Q(rounds__number=1)),
                first_submitted_at=F("first_round__submitted_at"),
            )
        return super().sort_queryset(queryset, sort)


# ---- accounts -------------------------------------------------------------------------------

PENDING_FIRST = Case(When(approved_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField())


class UserState:
    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"
    INVITED = "invited"
    UNCONFIRMED = "unconfirmed"

    CHOICES = [
        (ACTIVE, "Active (approved, with a password)"),
        (PENDING, "Awaiting approval"),
        (INVITED, "Invited, no password yet"),
        (UNCONFIRMED, "Email not confirmed"),
        (INACTIVE, "Inactive"),
    ]


# Django marks an account without a usable password (an invitation not yet taken up) with this prefix.
UNUSABLE = "!"


class UserFilter(ListFilterSet):
    SORTS: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "pending": (
            "Awaiting approval first",
            (PENDING_FIRST, F("role").asc(), F("full_name").asc(), F("username").asc(), F("pk").asc()),
        ),
        "name": ("Name, A to Z", (F("full_name").asc(), F("username").asc(), F("pk").asc())),
        "-name": ("Name, Z to A", (F("full_name").desc(), F("username").desc(), F("pk").desc())),
        "username": ("Username", (F("username").asc(), F("pk").asc())),
        "-joined": ("Newest accounts first", (F("date_joined").desc(), F("pk").desc())),
        "joined": ("Oldest accounts first", (F("date_joined").asc(), F("pk").asc())),
    }
    PRIMARY = ("q", "role", "state")

    q = _search_filter("Name, username, email or affiliation")
    SEARCH_FIELDS = (
        "username",
        "full_name",
        "email",
        "affiliation",
    )
    role = django_filters.ChoiceFilter(label="Role", choices=Role.choices, empty_label="Any role")
    expertise = django_filters.ChoiceFilter(label="Expertise", choices=ExpertiseKind.choices, empty_label="Any")
    state = django_filters.ChoiceFilter(
        label="State", choices=UserState.CHOICES, method="filter_state", empty_label="Any state"
    )

    class Meta:
        model = User
        fields: list[str] = []

    def filter_state(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        unusable = Q(password__startswith=UNUSABLE) | Q(password="")
        states = {
            UserState.ACTIVE: Q(is_active=True, approved_at__isnull=False) & ~unusable,
            UserState.INACTIVE: Q(is_active=False),
            UserState.PENDING: Q(approved_at__isnull=True),
            UserState.INVITED: unusable,
            UserState.UNCONFIRMED: Q(email_verified_at__isnull=True),
        }
        return queryset.filter(states[value])


# ---- assignments (the admin's list of every review) -----------------------------------------


class AssignmentFilter(ListFilterSet):
    SORTS: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "due": ("Due date, soonest first", (F("due_date").asc(), F("pk").asc())),
        "-due": ("Due date, latest first", (F("due_date").desc(), F("pk").desc())),
        "-assigned": ("Assigned, newest first", (F("assigned_at").desc(), F("pk").desc())),
        "reviewer": ("Reviewer", (F("reviewer__full_name").asc(), F("reviewer__username").asc(), F("pk").asc())),
        "project": ("Project title", (F("project__title").asc(), F("pk").asc())),
    }
    PRIMARY = ("q", "status")

    q = _search_filter("Project title, reviewer or researcher")
    SEARCH_FIELDS = (
        "project__title",
        "reviewer__full_name",
        "reviewer__username",
        "project__owner__full_name",
    )
    status = django_filters.MultipleChoiceFilter(
        label="Status", choices=AssignmentStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    reviewer = django_filters.ModelChoiceFilter(label="Reviewer", queryset=_reviewers, empty_label="Any reviewer")
    overdue = _flag("Overdue only")
    project = django_filters.ModelChoiceFilter(
        label="Project", queryset=Project.objects.all(), widget=forms.HiddenInput
    )

    class Meta:
        model = Assignment
        fields: list[str] = []

    def choice_digests(self) -> dict[str, str]:
        return self._digests({"reviewer": _reviewer_rows()}, {"reviewer": "reviewer"})

    def flag(self, queryset: QuerySet[Assignment], name: str, value: bool) -> QuerySet[Assignment]:
        return queryset.filter(overdue_assignment_q()) if value else queryset


# ---- the reviewer's own list ----------------------------------------------------------------


class MyReviewsFilter(ListFilterSet):
    """Search and order of "My reviews": it filters the reviewer's own assignments only."""

    SORTS: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "due": ("Due date, soonest first", (F("due_date").asc(), F("pk").asc())),
        "-due": ("Due date, latest first", (F("due_date").desc(), F("pk").desc())),
        "title": ("Project title", (Lower("project__title").asc(), F("pk").asc())),
    }
    PRIMARY = ("q",)

    q = _search_filter("Project title or researcher")
    SEARCH_FIELDS = (
        "project__title",
        "project__owner__full_name",
        "project__owner__username",
    )

    class Meta:
        model = Assignment
        fields: list[str] = []
