from reviews.models.accounts import User
from reviews.models.activity import ActivityEntry
from reviews.models.catalogue import GuidelineItem, GuidelineSet, GuidelineVersion, Stage
from reviews.models.chain import ChainHead
from reviews.models.projects import Answer, EvidenceFile, Project, Round
from reviews.models.review import (
    Assignment,
    AuditWaiver,
    ItemReview,
    Notification,
    ReviewPolicy,
    RoundOutcome,
    RoundReview,
    Signature,
)

__all__ = [
    "ActivityEntry",
    "Answer",
    "Assignment",
    "AuditWaiver",
    "ChainHead",
    "EvidenceFile",
    "GuidelineItem",
    "GuidelineSet",
    "GuidelineVersion",
    "ItemReview",
    "Notification",
    "Project",
    "ReviewPolicy",
    "Round",
    "RoundOutcome",
    "RoundReview",
    "Signature",
    "Stage",
    "User",
]
