"""GET /api/v1/me/: who the token speaks for, and the token itself (never its secret)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.models import ApiToken
from reviews.enums import Role
from reviews.models import User


class TokenSummarySerializer(serializers.ModelSerializer[ApiToken]):
    prefix = serializers.SerializerMethodField(help_text="The token's visible start, e.g. “msr_AbCd1234…”.")

    class Meta:
        model = ApiToken
        fields = ["name", "prefix", "scope", "created_at", "expires_at"]
        read_only_fields = fields

    def get_prefix(self, token: ApiToken) -> str:
        return f"msr_{token.prefix}…"


class MeSerializer(serializers.ModelSerializer[User]):
    username = serializers.CharField(read_only=True, help_text="The name the account signs in with.")
    full_name = serializers.CharField(read_only=True, help_text="The printed name on the account's signatures.")
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    email_verified = serializers.SerializerMethodField(help_text="The account's email address is confirmed.")
    approved = serializers.SerializerMethodField(
        help_text="The account may act as its role (where the board approves new researchers, once an administrator did)."
    )
    token = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "email", "role", "email_verified", "approved", "token"]
        read_only_fields = fields

    def get_email_verified(self, user: User) -> bool:
        return user.email_verified_at is not None

    def get_approved(self, user: User) -> bool:
        return user.approved_at is not None

    @extend_schema_field(TokenSummarySerializer)
    def get_token(self, user: User) -> dict[str, object]:
        return dict(TokenSummarySerializer(self.context["token"]).data)
