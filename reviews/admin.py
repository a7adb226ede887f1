"""Django admin: where admins edit draft guideline versions and publish them.

A published version, its stages and its items are read-only here; publishing and
starting a new draft go through the catalogue services, so they are logged. Sign-off
policies, accounts and groups are edited here too. Every change made here is logged in the
activity chain like the app's own (reviews.admin_trail.LoggedAdmin). The append-only records
(activity, signatures, round outcomes) can be looked at, never added, changed or deleted.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from reviews.admin_trail import LoggedAdmin
from reviews.models import (
    ActivityEntry,
    GuidelineItem,
    GuidelineSet,
    GuidelineVersion,
    ReviewPolicy,
    RoundOutcome,
    Signature,
    Stage,
    User,
)
from reviews.services.catalogue import CatalogueError, guideline_version_new_draft, guideline_version_publish
from reviews.services.decisions import open_rounds_recheck

# The account fields whose changes the activity log records (never the password hash).
_LOGGED_USER_FIELDS = [
    "username",
    "email",
    "full_name",
    "affiliation",
    "role",
    "expertise",
    "is_active",
    "is_staff",
    "is_superuser",
]

_LOGGED_POLICY_FIELDS = [
    "version",
    "approvals_required",
    "require_technical_and_non_technical",
    "final_decision",
    "review_days",
    "reminder_days",
]


def _published(obj: Any) -> bool:
    if obj is None:
        return False
    version = obj if isinstance(obj, GuidelineVersion) else obj.version
    return version.is_published


class FrozenWhenPublishedAdmin(LoggedAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and not _published(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not _published(obj)


@admin.register(GuidelineSet)
class GuidelineSetAdmin(LoggedAdmin):
    list_display = ("name", "slug")


class StageInline(admin.TabularInline):
    model = Stage
    fields = ("order", "code", "name")
    extra = 0
    show_change_link = True

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj)


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(FrozenWhenPublishedAdmin):
    list_display = ("__str__", "status", "published_at", "created_at")
    list_filter = ("guideline_set", "status")
    readonly_fields = ("status", "published_at", "created_at", "review_policy")
    fields = ("guideline_set", "number", "notes", "status", "published_at", "created_at", "review_policy")
    inlines = [StageInline]
    actions = ["publish", "new_draft"]

    @admin.display(description="Sign-off policy")
    def review_policy(self, obj: GuidelineVersion | None) -> str:
        if obj is None or obj.pk is None:
            return "Set it once the version is saved."
        policy = ReviewPolicy.objects.filter(version=obj).first()
        if policy is None:
            url = reverse("admin:reviews_reviewpolicy_add") + f"?version={obj.pk}"
            return format_html(
                'The defaults (2 approvals, technical and non-technical, decided by policy). <a href="{}">Set a policy</a>',
                url,
            )
        url = reverse("admin:reviews_reviewpolicy_change", args=[policy.pk])
        return format_html('{} <a href="{}">Change</a>', _policy_summary(policy), url)

    @admin.action(description="Publish the selected draft versions (they can never change again)")
    def publish(self, request: HttpRequest, queryset: QuerySet[GuidelineVersion]) -> None:
        for version in queryset:
            try:
                guideline_version_publish(version=version, actor=request.user)  # type: ignore[arg-type]
            except CatalogueError as exc:
                self.message_user(request, f"{version}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{version} is published.", messages.SUCCESS)

    @admin.action(description="Start a new draft version from the selected version")
    def new_draft(self, request: HttpRequest, queryset: QuerySet[GuidelineVersion]) -> None:
        for version in queryset:
            try:
                draft = guideline_version_new_draft(source=version, actor=request.user)  # type: ignore[arg-type]
            except CatalogueError as exc:
                self.message_user(request, f"{version}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{draft} created as a draft copy of {version}.", messages.SUCCESS)


@admin.register(Stage)
class StageAdmin(FrozenWhenPublishedAdmin):
    list_display = ("code", "name", "version", "order")
    list_filter = ("version",)


@admin.register(GuidelineItem)
class GuidelineItemAdmin(FrozenWhenPublishedAdmin):
    list_display = ("code", "version", "stage", "required", "automation", "audit")
    list_filter = ("version", "stage__code", "required", "automation", "audit")
    search_fields = ("code", "requirement")
    ordering = ("version", "stage__order", "order")


@admin.register(User)
class UserAdmin(LoggedAdmin, BaseUserAdmin):
    list_display = ("username", "full_name", "email", "role", "expertise", "is_active")
    list_filter = ("role", "expertise", "is_active")
    search_fields = ("username", "full_name", "email", "affiliation")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("MISyn Review", {"fields": ("full_name", "affiliation", "role", "expertise")}),
    )
    # Compared and logged like the in-app Users page; a password only as "changed".
    logged_fields = (*_LOGGED_USER_FIELDS, "groups", "user_permissions")

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        # Django's password form saves outside a transaction; the log row must share the change's.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().user_change_password(request, id, form_url)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(LoggedAdmin, BaseGroupAdmin):
    pass


def _policy_summary(policy: ReviewPolicy) -> str:
    both = ", at least one technical and one non-technical" if policy.require_technical_and_non_technical else ""
    return (
        f"{policy.approvals_required} approval{'s' if policy.approvals_required != 1 else ''}{both}; "
        f"final decision: {policy.get_final_decision_display().lower()}; "
        f"review within {policy.review_days} days, reminder {policy.reminder_days} days before."
    )


class ReviewPolicyForm(forms.ModelForm):
    approvals_required = forms.IntegerField(
        min_value=1, max_value=20, initial=2, help_text=ReviewPolicy._meta.get_field("approvals_required").help_text
    )
    review_days = forms.IntegerField(
        min_value=1, max_value=365, initial=21, help_text=ReviewPolicy._meta.get_field("review_days").help_text
    )
    reminder_days = forms.IntegerField(
        min_value=0, max_value=365, initial=3, help_text=ReviewPolicy._meta.get_field("reminder_days").help_text
    )

    class Meta:
        model = ReviewPolicy
        fields = _LOGGED_POLICY_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        review_days, reminder_days = data.get("review_days"), data.get("reminder_days")
        if review_days is not None and reminder_days is not None and reminder_days >= review_days:
            self.add_error(
                "reminder_days", f"The reminder must come before the due date: fewer than {review_days} days."
            )
        return data


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(LoggedAdmin):
    """Admins set the sign-off policy of each guideline version; every change is logged."""

    form = ReviewPolicyForm

    list_display = (
        "version",
        "approvals_required",
        "require_technical_and_non_technical",
        "final_decision",
        "review_days",
        "reminder_days",
    )
    list_filter = ("final_decision",)
    list_select_related = ("version__guideline_set",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A policy belongs to one version for good; choose the version only when adding.
        return ("version",) if obj is not None else ()

    logged_fields = tuple(_LOGGED_POLICY_FIELDS)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        open_rounds_recheck(version_id=obj.version_id, actor=cast(User, request.user))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        """Deleting a policy puts its version back on the defaults; the log keeps what it was."""
        version_id = obj.version_id
        super().delete_model(request, obj)
        open_rounds_recheck(version_id=version_id, actor=cast(User, request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ReviewPolicy]) -> None:
        for policy in queryset:
            self.delete_model(request, policy)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: shown to admins, never added, changed or deleted through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ActivityEntry)
class ActivityEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "action", "object_type", "object_repr", "project")
    list_filter = ("action", "object_type")
    search_fields = ("actor_name", "object_repr")
    list_select_related = ("project",)
    readonly_fields = ("seq", "prev_hash", "hash")


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdmin):
    list_display = ("signed_at", "printed_name", "meaning", "round", "project", "round_digest")
    list_filter = ("meaning",)
    search_fields = ("printed_name", "round__project__title")
    list_select_related = ("round__project",)
    readonly_fields = ("seq", "prev_hash", "hash")

    @admin.display(description="Project", ordering="round__project__title")
    def project(self, obj: Signature) -> str:
        return str(obj.round.project)


@admin.register(RoundOutcome)
class RoundOutcomeAdmin(ReadOnlyAdmin):
    list_display = ("decided_at", "outcome", "round", "project", "decided_by")
    list_filter = ("outcome",)
    list_select_related = ("round__project", "decided_by")

    @admin.display(description="Project", ordering="round__project__title")
    def project(self, obj: RoundOutcome) -> str:
        return str(obj.round.project)
