from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from config.site import site_url
from reviews.forms import InvitablePasswordResetForm, LoginForm, RegistrationForm, UserCreateForm, UserUpdateForm
from reviews.models import User
from reviews.services.accounts import (
    VerificationInvalid,
    email_verification_send,
    invitation_send,
    invitation_token_generator,
    user_approve,
    user_create,
    user_email_verify,
    user_password_changed,
    user_register,
    user_update,
)
from reviews.throttling import (
    Limit,
    by_anonymous_address,
    by_field,
    by_field_unless_known_device,
    by_user,
    remember_device,
    throttle,
)
from reviews.views.access import AuthedRequest


def _wrong_password(response: HttpResponseBase) -> bool:
    """The login form shown again: wrong credentials (django-axes answers a lockout with 429)."""
    return response.status_code == 200


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        remember_device(self.request, response, form.get_user().get_username())
        return response


# Every attempt from an address counts (spraying one password over many names); per name only
# wrong passwords do, and not those from a browser the name signed in from before, so someone
# else's guesses cannot keep a reviewer out (settings).
login_view = throttle(
    Limit("login-address", by_anonymous_address),
    Limit("login-username", by_field_unless_known_device("username"), counts=_wrong_password),
)(LoginView.as_view())


@throttle(Limit("register-address", by_anonymous_address))
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    mode = settings.REGISTRATION_MODE
    if mode == "closed":
        return render(
            request, "registration/register.html", {"closed": True}, status=403 if request.method == "POST" else 200
        )
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = user_register(
            username=data["username"],
            email=data["email"],
            full_name=data["full_name"],
            affiliation=data["affiliation"],
            password=data["password1"],
            needs_approval=mode == "approval",
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        next_step = (
            " An administrator will approve your account, and we will let you know." if mode == "approval" else ""
        )
        messages.success(
            request,
            f"Welcome, {user.display_name}. We sent a link to {user.email}: open it to confirm your address "
            f"before you create projects.{next_step}",
        )
        return redirect("project-list")
    return render(request, "registration/register.html", {"form": form, "approval": mode == "approval"})


@require_http_methods(["GET", "POST"])
def email_verify(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the confirmation email: a page with a button, so that a mail scanner that
    follows links does not confirm the address on its own."""
    if request.method != "POST":
        return render(request, "registration/email_verify.html", {"token": token})
    try:
        user = user_email_verify(token=token)
    except VerificationInvalid as exc:
        return render(request, "registration/email_verify.html", {"error": str(exc)}, status=400)
    messages.success(request, f"Thank you: {user.email} is confirmed.")
    return redirect("project-list" if request.user.is_authenticated else "login")


@login_required
@throttle(Limit("verification-resend-user", by_user))
@require_POST
def email_verify_resend(request: AuthedRequest) -> HttpResponse:
    user = request.user
    if user.email_verified_at is not None:
        messages.info(request, f"{user.email} is already confirmed.")
    elif email_verification_send(user=user):
        messages.success(request, f"We sent a new confirmation link to {user.email}.")
    else:
        messages.error(request, "The confirmation email could not be sent just now. Please try again later.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "home"
    return redirect(back)


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        user_password_changed(user=form.user)
        messages.success(self.request, "Your password was changed.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request. The page answers the same whether or not the address has an
    account (no user enumeration), and the emailed link points at SITE_URL. Someone signed
    in changes their password instead, so every request here is anonymous and throttled."""

    success_url = reverse_lazy("password-reset-done")
    form_class = InvitablePasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            return redirect("password-change")
        self.extra_email_context = {"site_url": site_url(request)}
        self.extra_context = {"timeout_minutes": settings.PASSWORD_RESET_TIMEOUT // 60}
        return super().dispatch(request, *args, **kwargs)


password_reset = throttle(
    Limit("password-reset-address", by_anonymous_address), Limit("password-reset-email", by_field("email"))
)(PasswordResetView.as_view())
password_reset_done = auth_views.PasswordResetDoneView.as_view()


class _ResetOrInvitationToken:
    """The confirm page takes both links: a password reset's (an hour) and an invitation's
    (INVITATION_DAYS). Both stop working once the account's password changes."""

    def make_token(self, user: Any) -> str:
        return default_token_generator.make_token(user)

    def check_token(self, user: Any, token: str | None) -> bool:
        return default_token_generator.check_token(user, token) or (
            not user.has_usable_password() and invitation_token_generator.check_token(user, token)
        )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The emailed link's page. For an invited account (no password yet) it reads as the
    invitation it is, and choosing the password logs the person in."""

    success_url = reverse_lazy("password-reset-complete")
    token_generator = _ResetOrInvitationToken()  # type: ignore[assignment]

    def _invited(self) -> bool:
        user = getattr(self, "user", None)
        return user is not None and not user.has_usable_password()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["invitation"] = self._invited()
        context["invitation_days"] = settings.INVITATION_DAYS
        context["timeout_minutes"] = settings.PASSWORD_RESET_TIMEOUT // 60
        return context

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        invited = self._invited()
        response = super().form_valid(form)
        user_password_changed(user=form.user)
        if invited:
            login(self.request, form.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                self.request, f"Welcome, {form.user.display_name}: your password is set and you are logged in."
            )
            return redirect("home")
        return response


password_reset_complete = auth_views.PasswordResetCompleteView.as_view()


def _require_user_admin(request: AuthedRequest) -> None:
    if not request.user.has_perm("reviews.manage_users"):
        raise PermissionDenied("only administrators manage accounts")


@login_required
@require_POST
def user_approve_view(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_user_admin(request)
    account = get_object_or_404(User, pk=pk)
    if user_approve(actor=request.user, user=account):
        messages.success(request, f"{account.display_name} is approved and can now create projects.")
    else:
        messages.info(request, f"{account.display_name} was already approved.")
    return redirect("user-list")


@login_required
@require_http_methods(["GET", "POST"])
def user_new(request: AuthedRequest) -> HttpResponse:
    _require_user_admin(request)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = user_create(actor=request.user, **{k: data[k] for k in form.Meta.fields})
        days = settings.INVITATION_DAYS
        messages.success(
            request,
            f"Account “{user.username}” created. We emailed {user.email} an invitation to choose a password; "
            f"its link works for {days} day{'s' if days != 1 else ''}.",
        )
        return redirect("user-list")
    context = {"form": form, "account": None, "invitation_days": settings.INVITATION_DAYS}
    return render(request, "reviews/user_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def user_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_user_admin(request)
    account = get_object_or_404(User, pk=pk)
    if request.method == "POST" and request.POST.get("action") == "resend-invitation":
        return _resend_invitation(request, account)
    form = UserUpdateForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        if account == request.user and not form.cleaned_data["is_active"]:
            form.add_error("is_active", "You cannot deactivate your own account.")
        else:
            user_update(actor=request.user, user=account, **{k: form.cleaned_data[k] for k in form.Meta.fields})
            messages.success(request, f"Account “{account.username}” saved.")
            return redirect("user-list")
    return render(request, "reviews/user_form.html", {"form": form, "account": account})


def _resend_invitation(request: AuthedRequest, account: User) -> HttpResponse:
    if account.has_usable_password():
        messages.info(request, f"{account.display_name} has already chosen a password.")
    elif not account.is_active:
        messages.error(request, f"{account.display_name}'s account is deactivated: reactivate it first.")
    elif invitation_send(user=account, actor=request.user):
        days = settings.INVITATION_DAYS
        messages.success(
            request,
            f"We sent a new invitation to {account.email}; its link works for {days} day{'s' if days != 1 else ''}.",
        )
    else:
        messages.error(request, "The invitation could not be sent just now. Please try again later.")
    return redirect("user-edit", pk=account.pk)


def _duration_words(span: timedelta) -> str:
    """15 minutes, 1 hour, 1 hour 30 minutes, 2 days."""
    minutes = max(1, round(span.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked login (AXES_LOCKOUT_CALLABLE): the wait in words."""
    cool_off = get_cool_off(request)
    context = {
        "cooloff_words": _duration_words(cool_off) if cool_off else "",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "registration/locked_out.html", context, status=429)
