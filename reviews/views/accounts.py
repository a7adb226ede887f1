from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from reviews.forms import RegistrationForm, UserCreateForm, UserUpdateForm
from reviews.models import User
from reviews.services.accounts import user_create, user_password_changed, user_register, user_update
from reviews.views.access import AuthedRequest


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = user_register(
            username=data["username"],
            email=data["email"],
            full_name=data["full_name"],
            affiliation=data["affiliation"],
            password=data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.display_name}. Your researcher account is ready.")
        return redirect("project-list")
    return render(request, "registration/register.html", {"form": form})


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        user_password_changed(user=form.user)
        messages.success(self.request, "Your password was changed.")
        return response


def _require_user_admin(request: AuthedRequest) -> None:
    if not request.user.has_perm("reviews.manage_users"):
        raise PermissionDenied


@login_required
def user_list(request: AuthedRequest) -> HttpResponse:
    _require_user_admin(request)
    page = Paginator(User.objects.order_by("role", "full_name", "username"), 100).get_page(request.GET.get("page"))
    return render(request, "reviews/user_list.html", {"page": page, "users": page.object_list})


@login_required
@require_http_methods(["GET", "POST"])
def user_new(request: AuthedRequest) -> HttpResponse:
    _require_user_admin(request)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = user_create(actor=request.user, **{k: data[k] for k in form.Meta.fields}, password=data["password"])
        messages.success(request, f"Account “{user.username}” created.")
        return redirect("user-list")
    return render(request, "reviews/user_form.html", {"form": form, "account": None})


@login_required
@require_http_methods(["GET", "POST"])
def user_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_user_admin(request)
    account = get_object_or_404(User, pk=pk)
    form = UserUpdateForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        if account == request.user and not form.cleaned_data["is_active"]:
            form.add_error("is_active", "You cannot deactivate your own account.")
        else:
            user_update(actor=request.user, user=account, **{k: form.cleaned_data[k] for k in form.Meta.fields})
            messages.success(request, f"Account “{account.username}” saved.")
            return redirect("user-list")
    return render(request, "reviews/user_form.html", {"form": form, "account": account})
