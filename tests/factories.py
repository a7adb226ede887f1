"""factory_boy factories. Projects are made against the real shipped catalogue (v1)."""

from __future__ import annotations

from typing import Any

import factory
from factory.django import DjangoModelFactory

from reviews.enums import ExpertiseKind, GeneratorFamily, Modality, Role, SynthesisTask
from reviews.models import Project, User
from reviews.selectors import guideline_version_current
from reviews.services.catalogue import catalogue_load

PASSWORD = "correct-horse-battery"


def project_fields(**changes: Any) -> dict[str, Any]:
    """A valid project form or API body (a revised title), with `changes` on top."""
    return {
        "title": "Synthetic chest X-rays, revised",
        "summary": "A diffusion model generates chest radiographs.",
        "synthesis_task": "augmentation",
        "modalities": ["XR"],
        "generator_family": "diffusion",
        "intended_use": "Training data for a classifier.",
        "prohibited_uses": "Diagnosis.",
        "data_sources": "CheXpert, accessed 2025-01-10.",
        **changes,
    }


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    affiliation = "Example University"
    role = Role.RESEARCHER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ResearcherFactory(UserFactory):
    role = Role.RESEARCHER


class ReviewerFactory(UserFactory):
    role = Role.REVIEWER
    expertise = ExpertiseKind.TECHNICAL


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True
    is_superuser = True


def _current_version():
    return guideline_version_current() or catalogue_load()[0]


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project

    owner = factory.SubFactory(ResearcherFactory)
    title = factory.Sequence(lambda n: f"Synthetic chest X-rays {n}")
    summary = "A diffusion model generates chest radiographs for augmentation."
    synthesis_task = SynthesisTask.AUGMENTATION
    modalities = factory.LazyFunction(lambda: [Modality.XRAY])
    generator_family = GeneratorFamily.DIFFUSION
    intended_use = "Training data for a pneumothorax classifier."
    prohibited_uses = "Diagnosis; presenting the images as real patients."
    data_sources = "CheXpert (Stanford licence), accessed 2025-01-10."
    guideline_version = factory.LazyFunction(_current_version)
