"""Choices used across the reviews app. Stored values never change once shipped."""

from django.db import models


class Role(models.TextChoices):
    RESEARCHER = "researcher", "Researcher"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Administrator"


class ExpertiseKind(models.TextChoices):
    TECHNICAL = "technical", "Technical"
    CLINICAL = "clinical", "Clinical"
    ETHICS = "ethics", "Ethics"
    PATIENT_PUBLIC = "patient_public", "Patient / public"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class Automation(models.TextChoices):
    AUTO = "auto", "Audit can check it"
    PARTIAL = "partial", "Audit can partly check it"
    MANUAL = "manual", "Needs human review"


class AuditKind(models.TextChoices):
    DISCLOSURE = "disclosure", "Disclosure"
    PRIVACY = "privacy", "Privacy (PHI)"
    MEMORIZATION = "memorization", "Memorization"
    FIDELITY = "fidelity", "Fidelity"
    REPRESENTATION = "representation", "Representation"
    MANIFEST = "manifest", "Manifest coverage"


class SynthesisTask(models.TextChoices):
    IMAGE_TO_IMAGE = "image_to_image", "Image-to-image translation"
    SUPER_RESOLUTION = "super_resolution", "Super-resolution"
    AUGMENTATION = "augmentation", "Data augmentation"
    PRIVACY_SHARING = "privacy_sharing", "Privacy-preserving sharing"
    TEXT_TO_IMAGE = "text_to_image", "Text-to-image"
    OTHER = "other", "Other"


class GeneratorFamily(models.TextChoices):
    GAN = "gan", "GAN"
    DIFFUSION = "diffusion", "Diffusion"
    VAE = "vae", "VAE"
    FLOW = "flow", "Flow"
    OTHER = "other", "Other"


class Modality(models.TextChoices):
    CT = "CT", "CT"
    MR = "MR", "MRI"
    XRAY = "XR", "X-ray (CR/DX)"
    MAMMOGRAPHY = "MG", "Mammography"
    ULTRASOUND = "US", "Ultrasound"
    PET = "PT", "PET"
    NUCLEAR = "NM", "Nuclear medicine"
    OCT = "OCT", "Optical coherence tomography"
    FUNDUS = "FUNDUS", "Fundus photography"
    DERMOSCOPY = "DERM", "Dermoscopy"
    HISTOPATHOLOGY = "PATH", "Histopathology"
    ENDOSCOPY = "ENDO", "Endoscopy"
    OTHER = "OTHER", "Other"


class ProjectStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    AMENDMENT = "amendment", "Amendment in progress"
    SUSPENDED = "suspended", "Approval suspended"


# The checklist items the overclaim check reads: the declared phase, the claims matrix, the check itself.
OVERCLAIM_ITEMS = ("EV-1", "EV-10", "OV-2")

# The researcher may change answers, files and details only in these states.
EDITABLE_STATUSES = frozenset({ProjectStatus.DRAFT, ProjectStatus.CHANGES_REQUESTED, ProjectStatus.AMENDMENT})
# Reviewers review and sign the latest round only while the project waits on them.
UNDER_REVIEW_STATUSES = frozenset({ProjectStatus.SUBMITTED, ProjectStatus.IN_REVIEW})
# The states an amendment passes through; an earlier round's approval stands meanwhile.
AMENDMENT_STATUSES = frozenset(
    {ProjectStatus.AMENDMENT, ProjectStatus.SUBMITTED, ProjectStatus.IN_REVIEW, ProjectStatus.CHANGES_REQUESTED}
)
# A researcher may withdraw a project from any of these.
OPEN_STATUSES = frozenset(
    {
        ProjectStatus.DRAFT,
        ProjectStatus.SUBMITTED,
        ProjectStatus.IN_REVIEW,
        ProjectStatus.CHANGES_REQUESTED,
        ProjectStatus.AMENDMENT,
    }
)


class AnswerStatus(models.TextChoices):
    MET = "met", "Met"
    PARTLY_MET = "partly_met", "Partly met"
    NOT_MET = "not_met", "Not met"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


# An answer with one of these statuses must say why.
JUSTIFICATION_REQUIRED = frozenset({AnswerStatus.NOT_MET, AnswerStatus.NOT_APPLICABLE})


class Action(models.TextChoices):
    CREATE = "create", "Created"
    CHANGE = "change", "Changed"
    UPLOAD = "upload", "Uploaded"
    DELETE = "delete", "Deleted"
    SUBMIT = "submit", "Submitted"
    PUBLISH = "publish", "Published"
    ASSIGN = "assign", "Assigned"
    RESPOND = "respond", "Responded"
    REVIEW = "review", "Reviewed"
    WAIVE = "waive", "Waived"
    SIGN = "sign", "Signed"
    DECIDE = "decide", "Decided"
    WITHDRAW = "withdraw", "Withdrawn"
    AMEND = "amend", "Amendment opened"
    SUSPEND = "suspend", "Approval suspended"
    REINSTATE = "reinstate", "Approval reinstated"
    OBJECT = "object", "Objection received"
    TRIAGE = "triage", "Objection triaged"


class EventKind(models.TextChoices):
    """What happened, for whoever listens outside the app (webhooks): reviews.events."""

    AUDIT_RUN_FINISHED = "audit_run.finished", "Audit run finished"
    PROJECT_SUBMITTED = "project.submitted", "Project submitted"
    DECISION_MADE = "decision.made", "Decision made"
    OBJECTION_RECEIVED = "objection.received", "Question or objection received"


class AssignmentStatus(models.TextChoices):
    INVITED = "invited", "Invited"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REMOVED = "removed", "Removed"


# An assignment in one of these holds the reviewer's place on the project.
ACTIVE_ASSIGNMENT_STATUSES = frozenset({AssignmentStatus.INVITED, AssignmentStatus.ACCEPTED})


class Verdict(models.TextChoices):
    ACCEPTABLE = "acceptable", "Acceptable"
    CONCERN = "concern", "Concern"
    MUST_CHANGE = "must_change", "Must change"


class EvaluationPhase(models.IntegerChoices):
    """EV-1's phases: the highest one reached limits what a project may claim."""

    ALGORITHMIC = 1, "1 · Algorithmic / model-space metrics"
    EXPERT = 2, "2 · Expert realism and anatomic correctness"
    UTILITY = 3, "3 · Utility on real, external downstream data"
    PROSPECTIVE = 4, "4 · Prospective or clinical-workflow study"
    MONITORING = 5, "5 · Post-deployment monitoring"


class OverclaimFinding(models.TextChoices):
    WITHIN = "within", "Claims stay within the declared phase and are backed by evidence"
    OVERCLAIM = "overclaim", "Claims go beyond the declared phase or lack evidence"


class Meaning(models.TextChoices):
    """What a signature means. The first four are reviewers' decisions; the admin's final
    decision (when the policy reserves it) uses the last two."""

    APPROVE = "approve", "Approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions", "Approve with conditions"
    REQUEST_CHANGES = "request_changes", "Request changes"
    REJECT = "reject", "Reject"
    FINAL_APPROVE = "final_approve", "Final decision: approve"
    FINAL_REJECT = "final_reject", "Final decision: reject"


REVIEWER_MEANINGS = (Meaning.APPROVE, Meaning.APPROVE_WITH_CONDITIONS, Meaning.REQUEST_CHANGES, Meaning.REJECT)
FINAL_MEANINGS = (Meaning.FINAL_APPROVE, Meaning.FINAL_REJECT)
APPROVING_MEANINGS = frozenset({Meaning.APPROVE, Meaning.APPROVE_WITH_CONDITIONS})
# The signer must write what the meaning rests on.
STATEMENT_REQUIRED = {
    Meaning.APPROVE_WITH_CONDITIONS: "the conditions",
    Meaning.REQUEST_CHANGES: "what must change",
    Meaning.REJECT: "the reasons",
    Meaning.FINAL_REJECT: "the reasons",
}


class Outcome(models.TextChoices):
    """How a round ended: one row per round, written by the transition that ends it."""

    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class FinalDecision(models.TextChoices):
    POLICY = "policy", "Automatic when the policy is met"
    ADMIN = "admin", "An administrator records the final decision"


class NotificationKind(models.TextChoices):
    SUBMITTED = "submitted", "New submission"
    ASSIGNED = "assigned", "Review assignment"
    RESPONDED = "responded", "Reviewer response"
    REMOVED = "removed", "Removed from a review"
    CONFLICT = "conflict", "Conflict of interest declared"
    SIGNED = "signed", "Decision signed"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    RESUBMITTED = "resubmitted", "Project resubmitted"
    APPROVED = "approved", "Project approved"
    REJECTED = "rejected", "Project rejected"
    WITHDRAWN = "withdrawn", "Project withdrawn"
    READY_FOR_DECISION = "ready_for_decision", "Ready for the final decision"
    DUE_SOON = "due_soon", "Review due soon"
    OVERDUE = "overdue", "Review overdue"
    ACCOUNT_PENDING = "account_pending", "Account awaiting approval"
    ACCOUNT_APPROVED = "account_approved", "Account approved"
    VERSION_PUBLISHED = "version_published", "Newer guideline version"
    OBJECTION = "objection", "Question or objection"
    SUSPENDED = "suspended", "Approval suspended"
    REINSTATED = "reinstated", "Approval reinstated"
    API_TOKEN_CREATED = "api_token_created", "API token created"
