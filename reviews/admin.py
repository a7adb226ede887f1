"""Django admin: where admins edit draft guideline versions and publish them.

A published version, its stages and its items are read-only here; publishing and
starting a new draft go through the catalogue services, so they are logged.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from reviews.enums import Action
from reviews.models import ActivityEntry, GuidelineItem, GuidelineSet, GuidelineVersion, Stage, User
from reviews.services.activity import activity_record, changed_values, field_values
from reviews.services.catalogue import CatalogueError, guideline_version_new_draft, guideline_version_publish

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


def _published(obj: Any) -> bool:
    if obj is None:
        return False
    version = obj if isinstance(obj, GuidelineVersion) else obj.version
    return version.is_published


class FrozenWhenPublishedAdmin(admin.ModelAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and not _published(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not _published(obj)


@admin.register(GuidelineSet)
class GuidelineSetAdmin(admin.ModelAdmin):
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
    readonly_fields = ("status", "published_at", "created_at")
    fields = ("guideline_set", "number", "notes", "status", "published_at", "created_at")
    inlines = [StageInline]
    actions = ["publish", "new_draft"]

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
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "full_name", "email", "role", "expertise", "is_active")
    list_filter = ("role", "expertise", "is_active")
    search_fields = ("username", "full_name", "email", "affiliation")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("MISyn Review", {"fields": ("full_name", "affiliation", "role", "expertise")}),
    )

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Account changes made here are logged like those of the in-app Users page."""
        before = {} if not change else field_values(User.objects.get(pk=obj.pk), _LOGGED_USER_FIELDS)
        super().save_model(request, obj, form, change)
        after = field_values(obj, _LOGGED_USER_FIELDS)
        if "password" in form.changed_data or "password1" in form.changed_data:
            after["password"] = "changed"  # noqa: S105 (a log marker; the hash is never logged)
        old, new = changed_values(before, after)
        if new:
            action = Action.CHANGE if change else Action.CREATE
            activity_record(actor=request.user, action=action, obj=obj, old=old or None, new=new)


@admin.register(ActivityEntry)
class ActivityEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "object_type", "object_repr", "project")
    list_filter = ("action", "object_type")
    search_fields = ("actor_name", "object_repr")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
