"""The read-only records' answers: rounds, their reviews, signatures and decisions, letter
verification, the public register and guideline versions. Output only: nothing here is written
through the API (signing stays a browser act with the password)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.selectors.records import ROUND_STATUS_WORDS, STANDING_WORDS
from reviews.enums import (
    AuditKind,
    Automation,
    EvaluationPhase,
    ExpertiseKind,
    FinalDecision,
    Meaning,
    Outcome,
    OverclaimFinding,
    Verdict,
)

DIGEST_HELP = (
    "SHA-256 (64 lowercase hex digits) of the round's canonical JSON: the member `snapshot` of the round's "
    "answer printed with sorted keys, no spaces and UTF-8 unescaped, e.g. in Python "
    "`hashlib.sha256(json.dumps(snapshot, sort_keys=True, separators=(',', ':'), ensure_ascii=False)"
    ".encode('utf-8')).hexdigest()`. Signatures bind to it."
)


class OutcomeSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    outcome_display = serializers.CharField(source="get_outcome_display")
    decided_at = serializers.DateTimeField(help_text="Server time, UTC.")
    decided_by = serializers.SerializerMethodField(
        help_text="The administrator who recorded the decision; null when the sign-off policy decided it."
    )
    reasons = serializers.CharField()

    def get_decided_by(self, outcome: Any) -> str | None:
        return outcome.decided_by.display_name if outcome.decided_by_id else None


class GuidelineVersionRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField(source="__str__")


class RoundSerializer(serializers.Serializer[Any]):
    """A round's summary: the list of a project's rounds."""

    number = serializers.IntegerField()
    status = serializers.SerializerMethodField(
        help_text="How the round ended (approved, changes_requested, rejected, withdrawn), or, while it has no "
        "outcome: under_review, superseded (a later round exists) or closed (the project left review without "
        "an outcome of this round)."
    )
    status_display = serializers.SerializerMethodField()
    submitted_at = serializers.DateTimeField(help_text="Server time, UTC.")
    submitted_by = serializers.CharField(source="submitted_by.display_name")
    guideline_version = GuidelineVersionRefSerializer()
    digest = serializers.CharField(help_text=DIGEST_HELP)
    outcome = serializers.SerializerMethodField()

    def get_status(self, round_: Any) -> str:
        return str(self.context["statuses"][round_.pk])

    def get_status_display(self, round_: Any) -> str:
        return ROUND_STATUS_WORDS[self.context["statuses"][round_.pk]]

    @extend_schema_field(OutcomeSerializer(allow_null=True))
    def get_outcome(self, round_: Any) -> dict[str, Any] | None:
        outcome = getattr(round_, "outcome", None)  # a missing one-to-one raises, getattr answers None
        return OutcomeSerializer(outcome).data if outcome is not None else None


class VerdictSerializer(serializers.Serializer[Any]):
    item = serializers.CharField(source="item.code", help_text="The guideline item's code.")
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    comment = serializers.CharField()


class ReviewSerializer(serializers.Serializer[Any]):
    reviewer = serializers.CharField(source="reviewer.display_name")
    declared_phase = serializers.ChoiceField(choices=EvaluationPhase.choices, allow_null=True)
    overclaim = serializers.ChoiceField(choices=OverclaimFinding.choices, allow_blank=True)
    overclaim_note = serializers.CharField()
    verdicts = VerdictSerializer(many=True, source="items.all")


class PolicyCheckSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]  # DRF's metaclass takes declared fields off the class; the name is the API's
    met = serializers.BooleanField()
    detail = serializers.CharField()


class SignOffSerializer(serializers.Serializer[Any]):
    met = serializers.BooleanField(help_text="Every condition of the round's sign-off policy holds.")
    final_decision = serializers.CharField(source="policy.get_final_decision_display")
    checks = PolicyCheckSerializer(many=True)


class RoundDetailSerializer(serializers.Serializer[Any]):
    """One round as its page shows it to the caller."""

    round = RoundSerializer(help_text="The round's summary.")
    snapshot = serializers.JSONField(
        source="round.snapshot",
        help_text="The frozen round exactly as it was signed (the member `round` of the round's JSON export). "
        "Its canonical JSON hashes to `round.digest`: " + DIGEST_HELP,
    )
    decisions_visible = serializers.BooleanField(
        help_text="Whether the round page shows you the signatures and the sign-off status: administrators "
        "always, everyone once the round has ended, a reviewer once they have submitted their own review."
    )
    sign_off = SignOffSerializer(allow_null=True, help_text="Null unless `decisions_visible`.")
    reviews = ReviewSerializer(
        many=True,
        help_text="The submitted reviews you may read: a reviewer reads the others' after submitting their own, "
        "the researcher once the round has ended, administrators always.",
    )


class SignatureSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField(help_text="Its place in signing order, numbered as on the letter.")
    printed_name = serializers.CharField(source="signature.printed_name")
    role = serializers.CharField(source="signature.signer_role", help_text="The signer's role when signing.")
    expertise = serializers.ChoiceField(
        source="signature.signer_expertise", choices=ExpertiseKind.choices, allow_blank=True
    )
    signer = serializers.CharField(help_text="Role and expertise in words, e.g. “technical reviewer”.")
    meaning = serializers.ChoiceField(source="signature.meaning", choices=Meaning.choices)
    meaning_display = serializers.CharField(
        source="signature.get_meaning_display", help_text="What the signature means, in words."
    )
    statement = serializers.CharField(
        source="signature.statement", help_text="Conditions, requested changes or reasons."
    )
    signed_at = serializers.DateTimeField(source="signature.signed_at", help_text="Server time, UTC.")
    round_digest = serializers.CharField(
        source="signature.round_digest", help_text="The round digest this signature signed."
    )
    covers_round = serializers.BooleanField(
        help_text="Whether the digest signed is this round's: a signature of another digest does not cover its content."
    )
    seq = serializers.IntegerField(source="signature.seq", help_text="Its place in the signature hash chain.")
    prev_hash = serializers.CharField(
        source="signature.prev_hash", help_text="The chain hash of the signature before it."
    )
    hash = serializers.CharField(source="signature.hash", help_text="SHA-256 over its content and `prev_hash`.")


class RoundSignaturesSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField(source="round.number")
    digest = serializers.CharField(source="round.digest", help_text=DIGEST_HELP)
    visible = serializers.BooleanField(
        help_text="Whether you may see the signatures (the round page's rule: administrators, everyone once the "
        "round has ended, a reviewer once they have submitted their own review)."
    )
    signatures = SignatureSerializer(many=True, allow_null=True, help_text="Null while `visible` is false.")
    fingerprint = serializers.CharField(
        allow_null=True,
        help_text="The letter's fingerprint: the first 80 bits of the SHA-256 of the round digest and the "
        "signatures' chain hashes, as printed on the decision letter.",
    )


# ---- letter verification ------------------------------------------------------------------


class CheckSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]  # DRF's metaclass takes declared fields off the class; the name is the API's
    ok = serializers.BooleanField()
    detail = serializers.CharField(help_text="What no longer holds (empty when it holds).")


class PublicSignatureSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField(help_text="Numbered as on the letter.")
    signer = serializers.CharField(help_text="Role and expertise; never a name (the letter prints the names).")
    meaning = serializers.CharField()
    signed_at = serializers.DateTimeField(help_text="Server time, UTC.")


class VerificationSerializer(serializers.Serializer[Any]):
    digest = serializers.CharField(source="round.digest")
    intact = serializers.BooleanField(help_text="The round's content, every signature and the decision all hold.")
    content_intact = serializers.BooleanField(help_text="The round's stored content still hashes to the digest.")
    project = serializers.IntegerField(source="round.project_id", help_text="The project's number.")
    title = serializers.CharField(help_text="The project's title as frozen in the round.")
    round = serializers.IntegerField(source="round.number")
    submitted_at = serializers.DateTimeField(source="round.submitted_at")
    outcome = serializers.ChoiceField(
        source="round.outcome.outcome", choices=Outcome.choices, help_text="What was decided."
    )
    outcome_display = serializers.CharField(source="round.outcome.get_outcome_display")
    decided_at = serializers.DateTimeField(source="round.outcome.decided_at")
    current_standing = serializers.SerializerMethodField(
        help_text="Whether an approval of the project stands today: approved, amendment (approved; an amendment is in "
        "progress), suspended, rejected, withdrawn, or no_approval (the project is being revised or reviewed)."
    )
    current_standing_display = serializers.SerializerMethodField()
    fingerprint = serializers.CharField(help_text="Compare it with the fingerprint printed on the letter.")
    signatures = PublicSignatureSerializer(many=True)
    checks = CheckSerializer(many=True)

    def get_current_standing(self, check: Any) -> str:
        return str(self.context["standing"])

    def get_current_standing_display(self, check: Any) -> str:
        return STANDING_WORDS[self.context["standing"]]


# ---- the public register --------------------------------------------------------------------


class SuspensionSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    reason = serializers.CharField()


class RegisterEntrySerializer(serializers.Serializer[Any]):
    """A project as the register lists it: public fields of its latest approved round only."""

    id = serializers.IntegerField(source="pk")
    title = serializers.CharField()
    summary = serializers.CharField()
    intended_use = serializers.CharField()
    prohibited_uses = serializers.CharField()
    synthesis_task = serializers.CharField(help_text="In words.")
    modalities = serializers.ListField(child=serializers.CharField(), help_text="In words.")
    generator_family = serializers.CharField(help_text="In words.")
    standing = serializers.ChoiceField(choices=["approved", "amendment", "suspended"])
    standing_display = serializers.CharField(source="standing_words")
    suspension = SuspensionSerializer(allow_null=True)
    approved_at = serializers.DateTimeField()
    round = serializers.IntegerField(source="round_number", help_text="The approved round shown.")
    digest = serializers.CharField(
        help_text="The approved round's SHA-256 digest; GET /api/v1/verify/{digest}/ checks it."
    )


class RegisterAuditSerializer(serializers.Serializer[Any]):
    audit = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF's metaclass takes declared fields off the class; the name is the API's
    status = serializers.CharField(help_text="pass, warn, fail, not_computable, or none.")
    words = serializers.CharField()
    waived = serializers.BooleanField(help_text="Waived by a reviewer with a written reason.")


class RegisterSignatureSerializer(serializers.Serializer[Any]):
    meaning = serializers.CharField()
    expertise = serializers.CharField()
    signed_at = serializers.DateTimeField()
    name = serializers.SerializerMethodField(help_text="Null unless the board shows signers' names on the register.")

    def get_name(self, signature: Any) -> str | None:
        return str(signature.name) or None


class RegisterResponseSerializer(serializers.Serializer[Any]):
    by = serializers.CharField()
    published_at = serializers.DateTimeField()
    text = serializers.CharField()


class RegisterObjectionSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()
    text = serializers.CharField(allow_null=True, help_text="Null unless the board published it.")
    responses = RegisterResponseSerializer(many=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    remedy = serializers.CharField(allow_null=True)
    decision_reason = serializers.CharField(allow_null=True)


class RegisterEntryDetailSerializer(RegisterEntrySerializer):
    """Everything the register page shows of one project."""

    limitations = serializers.CharField()
    plain_language_summary = serializers.CharField(source="plain_summary")
    images_audited = serializers.BooleanField()
    disclosure_statement = serializers.CharField(source="disclosure")
    audits = RegisterAuditSerializer(many=True)
    signatures = RegisterSignatureSerializer(many=True)
    objections = serializers.SerializerMethodField()

    @extend_schema_field(RegisterObjectionSerializer(many=True))
    def get_objections(self, entry: Any) -> list[dict[str, Any]]:
        return list(self.context["objections"])


# ---- guideline versions -------------------------------------------------------------------


# What the catalogue pages show administrators only (editors' notes, where a draft started,
# how each item is checked): null for everyone else, as the pages leave them out.
EDITOR_ONLY = "Null unless you are an administrator (the catalogue pages show it to them only)."


def _hide_from_readers(serializer: serializers.Serializer[Any], data: Any, names: tuple[str, ...]) -> Any:
    if not serializer.context.get("editor"):
        for name in names:
            data[name] = None
    return data


class GuidelineVersionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    guideline_set = serializers.CharField(source="guideline_set.name")
    guideline_set_slug = serializers.CharField(source="guideline_set.slug")
    number = serializers.IntegerField()
    name = serializers.CharField(source="__str__")
    status = serializers.CharField(help_text="draft (administrators only) or published.")
    published_at = serializers.DateTimeField(allow_null=True)
    stage_count = serializers.IntegerField()
    item_count = serializers.IntegerField()
    parent = serializers.IntegerField(  # type: ignore[assignment]  # DRF's metaclass takes declared fields off the class; the name is the API's
        source="parent_id", allow_null=True, help_text="The version it was started from. " + EDITOR_ONLY
    )
    notes = serializers.CharField(allow_null=True, help_text="The editors' notes on sources. " + EDITOR_ONLY)

    def to_representation(self, instance: Any) -> Any:
        return _hide_from_readers(self, super().to_representation(instance), ("parent", "notes"))


class GuidelineItemSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    requirement = serializers.CharField(help_text="What the researcher answers to.")
    rationale = serializers.CharField(help_text="Why it is asked.")
    evidence = serializers.CharField(help_text="The evidence to attach.")
    required = serializers.BooleanField()  # type: ignore[assignment]  # DRF's metaclass takes declared fields off the class; the name is the API's
    audit = serializers.ChoiceField(
        choices=AuditKind.choices, allow_blank=True, help_text="The audit bound to it (empty: none)."
    )
    automation = serializers.ChoiceField(choices=Automation.choices, allow_null=True, help_text=EDITOR_ONLY)
    automation_note = serializers.CharField(allow_null=True, help_text=EDITOR_ONLY)

    def to_representation(self, instance: Any) -> Any:
        return _hide_from_readers(self, super().to_representation(instance), ("automation", "automation_note"))


class StageSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    items = GuidelineItemSerializer(many=True, source="items.all")


class ReviewPolicySerializer(serializers.Serializer[Any]):
    approvals_required = serializers.IntegerField()
    require_technical_and_non_technical = serializers.BooleanField()
    final_decision = serializers.ChoiceField(choices=FinalDecision.choices)
    review_days = serializers.IntegerField()
    reminder_days = serializers.IntegerField()


class GuidelineVersionDetailSerializer(GuidelineVersionSerializer):
    stages = StageSerializer(many=True, source="stages.all")
    review_policy = serializers.SerializerMethodField(help_text="The version's sign-off policy.")

    @extend_schema_field(ReviewPolicySerializer)
    def get_review_policy(self, version: Any) -> dict[str, Any]:
        return dict(ReviewPolicySerializer(self.context["policy"]).data)
