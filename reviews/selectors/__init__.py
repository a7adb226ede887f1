"""Reads of the reviews app (projects and checklists; review rounds in .review)."""

from reviews.selectors.projects import (
    DEFAULT_SET,
    ChecklistRow,
    ChecklistStage,
    guideline_version_current,
    project_activity,
    project_checklist,
    projects_visible_to,
    submission_problems,
    with_progress,
)

__all__ = [
    "DEFAULT_SET",
    "ChecklistRow",
    "ChecklistStage",
    "guideline_version_current",
    "project_activity",
    "project_checklist",
    "projects_visible_to",
    "submission_problems",
    "with_progress",
]
