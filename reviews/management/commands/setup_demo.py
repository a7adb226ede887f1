"""Demo accounts and one partly answered project. Refused under production settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audits.demo import attach_demo_sets, run_demo_audits
from reviews.enums import (
    AnswerStatus,
    ExpertiseKind,
    GeneratorFamily,
    Meaning,
    Modality,
    OverclaimFinding,
    Role,
    SynthesisTask,
    Verdict,
)
from reviews.models import GuidelineItem, Project, User
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.catalogue import catalogue_load
from reviews.services.decisions import round_sign
from reviews.services.projects import answer_save, project_create, project_submit
from reviews.services.review import VerdictInput, round_review_save
from reviews.validators import validate_evidence_file

DEMO_PASSWORD = "demo-password"  # noqa: S105 (documented demo credential, refused in production)
DEMO_TITLE = "Synthetic brain MRI slices for tumour-segmentation training (demo)"
# Titles name no status: the demo project is submitted here, then reviewed, approved, amended.
SUBMITTED_TITLE = "Synthetic EPI slices shared in place of patient scans (demo)"
OLD_SUBMITTED_TITLE = "Synthetic EPI slices shared in place of patient scans (demo, submitted)"

APPROVED_TITLE = "Synthetic FLAIR slices for teaching MRI physics (demo)"
APPROVED_DATA = {
    "title": APPROVED_TITLE,
    "summary": "A diffusion model generates axial FLAIR slices that show MRI artefacts and contrasts for a "
    "radiography course, so that students practise on images of no real patient.",
    "synthesis_task": SynthesisTask.AUGMENTATION,
    "modalities": [Modality.MR],
    "generator_family": GeneratorFamily.DIFFUSION,
    "intended_use": "Teaching MRI physics and artefact recognition to radiography students.",
    "prohibited_uses": "Diagnosis; presenting the slices as real patients; training clinical models.",
    "data_sources": "Functional MRI research archive (consented, IRB 2023-044).",
}
APPROVED_ANSWERS = {
    "EV-11": "(a) The slices reproduce common artefacts but not rare pathology; a student may over-trust "
    "their realism. (b) Trained on one scanner model: contrasts of other vendors are not represented. "
    "(c) Synthetic images can never stand for a real patient's anatomy.",
    "OV-4": "We make MRI slices with a computer model so that students can learn without using patients' "
    "scans. Every slice is marked SYNTHETIC and may not be used to diagnose anyone.",
    "DS-4": "Every slice carries a visible SYNTHETIC mark in its lower corner and Burned In Annotation = YES.",
}
ACCOUNTS = [
    ("researcher", "Dr Rosa Researcher", Role.RESEARCHER, ""),
    ("reviewer-tech", "Dr Tomas Technical", Role.REVIEWER, ExpertiseKind.TECHNICAL),
    ("reviewer-clin", "Dr Clara Clinical", Role.REVIEWER, ExpertiseKind.CLINICAL),
    ("reviewer-ethics", "Prof Elena Ethics", Role.REVIEWER, ExpertiseKind.ETHICS),
    ("admin", "Ada Admin", Role.ADMIN, ""),
]

COMPOSITION_CSV = (
    b"attribute,category,training_images,share\n"
    b"sex,F,1210,0.48\nsex,M,1310,0.52\n"
    b"scanner,Siemens Prisma,1402,0.56\nscanner,GE Discovery,1118,0.44\n"
    b"age_band,18-40,640,0.25\nage_band,41-65,1205,0.48\nage_band,66+,675,0.27\n"
)

ANSWERS: dict[str, tuple[str, str, str]] = {
    "PF-1": (
        AnswerStatus.MET,
        "",
        "Radiologists at the partner hospital need more **low-grade glioma** examples to train and test a "
        "segmentation model used for surgical planning; real cases are rare (about 40 a year).",
    ),
    "PF-2": (
        AnswerStatus.PARTLY_MET,
        "",
        "Federated access to two more sites was considered and is being negotiated; classic augmentation "
        "was tried and did not improve Dice on rare tumour shapes. Physics simulation was not considered.",
    ),
    "PF-4": (
        AnswerStatus.MET,
        "",
        "Intended: training data for a segmentation model, always mixed with real cases.\n\n"
        "Prohibited: diagnosis, teaching files presented as real patients, publication as real cases.",
    ),
    "DC-1": (
        AnswerStatus.MET,
        "",
        "| Dataset | Licence | Access |\n|---|---|---|\n| BraTS 2021 | CC BY-NC | 2025-03-02 |\n"
        "| Partner hospital archive | DUA 2024-117 | 2025-04-11 |",
    ),
    "DC-5": (AnswerStatus.MET, "", "Composition of the training data is attached as a CSV table."),
    "DD-1": (AnswerStatus.PARTLY_MET, "", "Model card drafted; checkpoint hashes still to be added."),
    "EV-8": (
        AnswerStatus.NOT_APPLICABLE,
        "No human readers see the synthetic images: they are used only as training data.",
        "",
    ),
}


class Command(BaseCommand):
    help = (
        "Create the demo accounts (password 'demo-password'), a partly answered demo project and a "
        "submitted one waiting for reviewers."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if getattr(settings, "IS_PRODUCTION", False):
            raise CommandError("Demo data is never created under production settings.")
        catalogue_load()
        with transaction.atomic():
            users = {
                username: self._account(username, name, role, expertise) for username, name, role, expertise in ACCOUNTS
            }
            project = self._project(users["researcher"])
        self.stdout.write(self.style.SUCCESS(f"Demo ready: accounts {', '.join(users)} (password '{DEMO_PASSWORD}')."))
        self.stdout.write(f"Demo project #{project.pk}: {project.title}")
        image_sets = attach_demo_sets(project, users["researcher"])
        if image_sets:
            self.stdout.write(
                f"Demo image sets uploaded ({len(image_sets)} sets); the audit suite is queued for the worker."
            )
        submitted = self._submitted_project(users["researcher"])
        if submitted is not None:
            self.stdout.write(
                f"Demo project #{submitted.pk} is submitted (round 1) and waits for an admin to assign reviewers."
            )
        approved = self._approved_project(users)
        if approved is not None:
            self.stdout.write(
                f"Demo project #{approved.pk} is approved, listed on the public register, with its decision letter."
            )

    def _account(self, username: str, full_name: str, role: str, expertise: str) -> User:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "full_name": full_name,
                "email": f"{username}@demo.invalid",
                "affiliation": "MISyn Review demo",
                "role": role,
                "expertise": expertise,
                "is_staff": role == Role.ADMIN,
                "is_superuser": role == Role.ADMIN,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        return user

    def _submitted_project(self, researcher: User) -> Project | None:
        """Every item answered, the demo image sets uploaded, then submitted: round 1 binds the
        audit run the uploads queued, so reviewers see its results once the worker is done."""
        # A demo set up before the title lost its status keeps its project, renamed (not a
        # researcher's edit: the demo's own data, so no activity entry).
        Project.objects.filter(owner=researcher, title=OLD_SUBMITTED_TITLE).update(title=SUBMITTED_TITLE)
        if Project.objects.filter(owner=researcher, title=SUBMITTED_TITLE).exists():
            return None
        project = project_create(
            actor=researcher,
            data={
                "title": SUBMITTED_TITLE,
                "summary": "A diffusion model trained on echo-planar brain slices generates synthetic slices that "
                "the lab shares with a partner instead of the patients' scans.",
                "synthesis_task": SynthesisTask.PRIVACY_SHARING,
                "modalities": [Modality.MR],
                "generator_family": GeneratorFamily.DIFFUSION,
                "intended_use": "Method development at a partner lab that may not receive patient data.",
                "prohibited_uses": "Diagnosis; training clinical models without real validation data; "
                "presenting the slices as real patients.",
                "data_sources": "Functional MRI research archive (consented, IRB 2023-044).",
            },
        )
        attach_demo_sets(project, researcher)
        for item in GuidelineItem.objects.filter(version=project.guideline_version).order_by("stage__order", "order"):
            answer = ANSWERS.get(item.code)
            status, justification, text = answer or (
                AnswerStatus.MET,
                "",
                f"{item.evidence or 'Evidence'}: described in the project protocol, section {item.stage.order}.",
            )
            answer_save(
                actor=researcher,
                project=project,
                item=item,
                status=status,
                justification=justification,
                evidence_text=text,
            )
        project_submit(actor=researcher, project=project)
        return project

    def _approved_project(self, users: dict[str, User]) -> Project | None:
        """A project taken through the whole loop with the real services: answered, image sets
        uploaded, submitted with the register opt-in, its audits computed here (as a worker would),
        reviewed by a technical and a clinical reviewer, and approved by their signatures. The
        public register, the board dashboard and the decision letter have something real to show.
        Its synthetic set is the clean one (audits.demo.CLEAN_SYNTHETIC): every audit passes, so
        the approval needs no waiver; the other two demo projects keep the set whose audits fail."""
        researcher = users["researcher"]
        if Project.objects.filter(owner=researcher, title=APPROVED_TITLE).exists():
            return None
        project = project_create(actor=researcher, data=APPROVED_DATA)
        attach_demo_sets(project, researcher, clean=True)
        for item in GuidelineItem.objects.filter(version=project.guideline_version).order_by("stage__order", "order"):
            text = APPROVED_ANSWERS.get(item.code) or (
                f"{item.evidence or 'Evidence'}: described in the project protocol, section {item.stage.order}."
            )
            answer_save(
                actor=researcher,
                project=project,
                item=item,
                status=AnswerStatus.MET,
                justification="",
                evidence_text=text,
            )
        round_ = project_submit(actor=researcher, project=project, public_listing=True)
        run_demo_audits(project, researcher)
        reviewers = [users["reviewer-tech"], users["reviewer-clin"]]
        for reviewer in reviewers:
            assignment_create(actor=users["admin"], project=project, reviewer=reviewer)
            assignment_respond(actor=reviewer, project=project, accept=True)
        items = list(GuidelineItem.objects.filter(version=round_.guideline_version_id))
        for reviewer in reviewers:
            round_review_save(
                actor=reviewer,
                round_=round_,
                verdicts=[VerdictInput(item=item, verdict=Verdict.ACCEPTABLE, comment="") for item in items],
                declared_phase=2,
                overclaim=OverclaimFinding.WITHIN,
                overclaim_note="",
                submit=True,
            )
        round_sign(actor=reviewers[0], round_=round_, meaning=Meaning.APPROVE, statement="", digest=round_.digest)
        round_sign(
            actor=reviewers[1],
            round_=round_,
            meaning=Meaning.APPROVE_WITH_CONDITIONS,
            statement="Every released slice keeps its visible SYNTHETIC mark; report any clinical use to the board.",
            digest=round_.digest,
        )
        project.refresh_from_db()
        return project

    def _project(self, researcher: User) -> Project:
        existing = Project.objects.filter(owner=researcher, title=DEMO_TITLE).first()
        if existing is not None:
            return existing
        project = project_create(
            actor=researcher,
            data={
                "title": DEMO_TITLE,
                "summary": "A latent diffusion model generates axial T2-FLAIR slices with low-grade gliomas, "
                "conditioned on a tumour mask, to enlarge the training set of a segmentation model.",
                "synthesis_task": SynthesisTask.AUGMENTATION,
                "modalities": [Modality.MR],
                "generator_family": GeneratorFamily.DIFFUSION,
                "intended_use": "Training data for a tumour-segmentation model used in surgical planning research.",
                "prohibited_uses": "Diagnosis; teaching or publication as real patient images; re-identification.",
                "data_sources": "BraTS 2021 (CC BY-NC), partner hospital archive under DUA 2024-117.",
            },
        )
        items = {item.code: item for item in GuidelineItem.objects.filter(version=project.guideline_version)}
        for code, (status, justification, evidence_text) in ANSWERS.items():
            files = []
            if code == "DC-5":
                upload = SimpleUploadedFile("training-composition.csv", COMPOSITION_CSV, content_type="text/csv")
                files.append(validate_evidence_file(upload))
            answer_save(
                actor=researcher,
                project=project,
                item=items[code],
                status=status,
                justification=justification,
                evidence_text=evidence_text,
                files=files,
            )
        return project
