from reviews.models.accounts import User
from reviews.models.activity import ActivityEntry
from reviews.models.catalogue import GuidelineItem, GuidelineSet, GuidelineVersion, Stage
from reviews.models.projects import Answer, EvidenceFile, Project, Round

__all__ = [
    "ActivityEntry",
    "Answer",
    "EvidenceFile",
    "GuidelineItem",
    "GuidelineSet",
    "GuidelineVersion",
    "Project",
    "Round",
    "Stage",
    "User",
]
