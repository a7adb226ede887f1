"""Audit runs as the API reads them: state and progress, each audit's verdict, and its sets."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audits.enums import AuditName, RunStatus
from audits.models import AuditRun, ImageSet
from audits.selectors import run_summary

VERDICTS = ("pass", "warn", "fail", "not_computable")


class AuditVerdictSerializer(serializers.Serializer[Any]):
    audit = serializers.ChoiceField(choices=AuditName.choices)
    # Named like Field.label; DRF's metaclass moves declared fields off the class, so no clash.
    label = serializers.CharField()  # type: ignore[assignment]
    status = serializers.ChoiceField(
        choices=VERDICTS,
        allow_blank=True,
        help_text="pass, warn, fail or not_computable; empty when the run has no result.",
    )
    summary = serializers.CharField(help_text="The audit's one-sentence finding (empty in lists).")


class AuditRunSerializer(serializers.ModelSerializer[AuditRun]):
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    progress = serializers.IntegerField(read_only=True, help_text="Per cent done.")
    message = serializers.CharField(source="progress_message", read_only=True)
    audits = serializers.SerializerMethodField()

    class Meta:
        model = AuditRun
        fields = [
            "id",
            "number",
            "status",
            "progress",
            "message",
            "reason",
            "created_at",
            "started_at",
            "finished_at",
            "audits",
        ]
        read_only_fields = fields

    @extend_schema_field(AuditVerdictSerializer(many=True))
    def get_audits(self, run: AuditRun) -> list[dict[str, str]]:
        entries = run_summary(run).audits
        rows = [{"audit": e.audit, "label": e.label, "status": e.status, "summary": e.summary} for e in entries]
        return AuditVerdictSerializer(rows, many=True).data  # type: ignore[return-value]


class AuditRunDetailSerializer(AuditRunSerializer):
    error = serializers.CharField(read_only=True, help_text="Why a failed run failed.")
    reused_from = serializers.IntegerField(
        source="reused_from.number",
        read_only=True,
        allow_null=True,
        help_text="The run number whose results this run reuses.",
    )
    sets: serializers.PrimaryKeyRelatedField[ImageSet] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of the image sets audited."
    )

    class Meta(AuditRunSerializer.Meta):
        fields = [*AuditRunSerializer.Meta.fields, "error", "input_digest", "reused_from", "sets"]
        read_only_fields = fields


class AuditRunRequestSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=150, required=False, default="", help_text="Why the run was asked for (shown in its history)."
    )
