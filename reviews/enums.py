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


# The researcher may change answers, files and details only in these states.
EDITABLE_STATUSES = frozenset({ProjectStatus.DRAFT, ProjectStatus.CHANGES_REQUESTED})


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
