"""Registration: the email address is confirmed before the account creates projects or
uploads; REGISTRATION_MODE=approval makes an admin approve each new researcher; closed
registration creates no account. Existing, admin-made and demo accounts are confirmed."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import mail, signing
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from reviews import rules as review_rules
from reviews.enums import NotificationKind, ProjectStatus
from reviews.models import ActivityEntry, Notification, Project, User
from reviews.services.accounts import email_verification_token, user_create
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory

FORM = "application/x-www-form-urlencoded"
NEWCOMER = {
    "username": "newcomer",
    "full_name": "Nora Newcomer",
    "email": "nora@example.org",
    "affiliation": "Example Institute",
    "password1": "a-fresh-passphrase-91",
    "password2": "a-fresh-passphrase-91",
}


def post(client: Client, url: str, data: dict[str, str] | None = None) -> object:
    return client.post(url, urlencode(data or {}), content_type=FORM)


def register(client: Client) -> User:
    response = post(client, reverse("register"), NEWCOMER)
    assert response.status_code == 302, response.content.decode()[:2000]
    return User.objects.get(username="newcomer")


def link_in(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://\S+", message.body)
    assert match, message.body
    return "/" + match.group(0).split("/", 3)[3]


# --- confirming the address -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the email goes out on commit
def test_a_new_researcher_confirms_their_email_before_creating_projects(catalogue):
    client = Client()
    user = register(client)
    assert user.email_verified_at is None and user.approved_at is not None
    assert not user.has_perm("reviews.add_project")

    # Signed in, with a banner that says what to do, and no way to create a project yet.
    page = client.get(reverse("project-list")).content.decode()
    assert "Confirm your email address." in page and "nora@example.org" in page
    assert client.get(reverse("project-new")).status_code == 403

    # The email carries a link to this site; opening it shows a button (mail scanners that
    # follow links confirm nothing), pressing it confirms.
    assert [m.to for m in mail.outbox] == [["nora@example.org"]]
    link = link_in(mail.outbox[0])
    assert client.get(link).status_code == 200
    user.refresh_from_db()
    assert user.email_verified_at is None
    response = post(client, link)
    assert response.status_code == 302 and response["Location"] == reverse("project-list")
    user.refresh_from_db()
    assert user.email_verified_at is not None and user.has_perm("reviews.add_project")
    assert "Confirm your email address." not in client.get(reverse("project-list")).content.decode()
    assert client.get(reverse("project-new")).status_code == 200
    assert ActivityEntry.objects.filter(object_id=str(user.pk), new__has_key="email_verified_at").exists()

    # A second use of the link is harmless and changes nothing.
    confirmed_at = user.email_verified_at
    assert post(Client(), link).status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at == confirmed_at


@pytest.mark.django_db
def test_an_unconfirmed_owner_cannot_edit_upload_or_submit(catalogue):
    owner = ResearcherFactory(email_verified_at=None)
    project = ProjectFactory(owner=owner, guideline_version=catalogue, status=ProjectStatus.DRAFT)
    client = Client()
    client.force_login(owner)
    assert client.get(reverse("imageset-upload", kwargs={"pk": project.pk})).status_code == 403
    assert client.get(reverse("project-edit", kwargs={"pk": project.pk})).status_code == 403
    # Still allowed to see it.
    assert client.get(reverse("project-detail", kwargs={"pk": project.pk})).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        "forged",
        signing.dumps({"user": 1, "email": "x@example.org"}, salt="another-purpose"),
    ],
    # Fixed ids: a signed token holds a timestamp, and xdist's processes must collect the same names.
    ids=["forged", "signed-for-another-purpose"],
)
def test_a_forged_link_confirms_nothing(token):
    user = ResearcherFactory(email_verified_at=None)
    response = post(Client(), reverse("email-verify", kwargs={"token": token}))
    assert response.status_code == 400 and "not valid" in response.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is None


@pytest.mark.django_db
def test_an_expired_link_or_one_for_an_old_address_confirms_nothing():
    user = ResearcherFactory(email_verified_at=None)
    token = email_verification_token(user=user)
    with override_settings(EMAIL_VERIFICATION_MAX_AGE=-1):
        response = post(Client(), reverse("email-verify", kwargs={"token": token}))
    assert response.status_code == 400 and "expired" in response.content.decode()
    user.email = "changed@example.org"
    user.save()
    response = post(Client(), reverse("email-verify", kwargs={"token": token}))
    assert response.status_code == 400 and "no longer has" in response.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is None


@pytest.mark.django_db
def test_the_link_can_be_sent_again_a_few_times_an_hour():
    user = ResearcherFactory(email_verified_at=None)
    client = Client()
    client.force_login(user)
    url = reverse("email-verify-resend")
    limit = settings.THROTTLE_RATES["verification-resend-user"][0]
    for _ in range(limit):
        response = post(client, url, {"next": reverse("project-list")})
        assert response.status_code == 302 and response["Location"] == reverse("project-list")
    assert len(mail.outbox) == limit
    response = post(client, url)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert len(mail.outbox) == limit
    # Any of the links sent confirms the address.
    post(client, link_in(mail.outbox[0]))
    user.refresh_from_db()
    assert user.email_verified_at is not None


@pytest.mark.django_db
def test_resend_does_not_redirect_off_site():
    client = Client()
    client.force_login(ResearcherFactory(email_verified_at=None))
    response = post(client, reverse("email-verify-resend"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


@pytest.mark.django_db
def test_accounts_made_by_admins_and_factories_are_confirmed(catalogue):
    """The demo's accounts are checked where the demo is set up (tests/audits/test_demo.py)."""
    admin = AdminFactory()
    made = user_create(actor=admin, username="rev", email="rev@example.org", full_name="Rev", affiliation="",
                       role="reviewer", expertise="clinical")  # fmt: skip
    for user in (made, ResearcherFactory(), ReviewerFactory(), admin):
        assert user.email_verified_at is not None and user.approved_at is not None


# --- predicates ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_is_verified_over_every_state(catalogue):
    now = timezone.now()
    cases = {
        "anonymous": (AnonymousUser(), False),
        "confirmed and approved": (ResearcherFactory(), True),
        "unconfirmed": (ResearcherFactory(email_verified_at=None), False),
        "awaiting approval": (ResearcherFactory(approved_at=None), False),
        "neither": (ResearcherFactory(email_verified_at=None, approved_at=None), False),
        "inactive": (ResearcherFactory(is_active=False, email_verified_at=now), False),
    }
    for name, (user, expected) in cases.items():
        assert review_rules.is_verified.test(user) is expected, name
        assert review_rules.can_create_project.test(user) is expected, name
        if user.is_authenticated:
            project = ProjectFactory(owner=user, guideline_version=catalogue)
            assert review_rules.can_edit_project.test(user, project) is expected, name
            assert review_rules.can_submit_project.test(user, project) is expected, name


# --- approval mode ---------------------------------------------------------------------------


@override_settings(REGISTRATION_MODE="approval")
@pytest.mark.django_db(transaction=True)
def test_with_approval_an_admin_approves_each_new_researcher(catalogue):
    admin = AdminFactory(full_name="Ada Admin")
    client = Client()
    assert "an administrator approves each new researcher" in client.get(reverse("register")).content.decode()
    user = register(client)
    assert user.approved_at is None
    post(client, link_in(mail.outbox[0]))  # the address is confirmed...
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert not user.has_perm("reviews.add_project")  # ...but the account still waits
    assert "Your account awaits approval." in client.get(reverse("project-list")).content.decode()

    # The admins are told, and find the account at the top of the user list.
    note = Notification.objects.get(recipient=admin, kind=NotificationKind.ACCOUNT_PENDING)
    assert "Nora Newcomer" in note.subject
    staff = Client()
    staff.force_login(admin)
    listing = staff.get(note.url)
    assert [u.username for u in listing.context["users"]] == ["newcomer"]
    assert "awaiting approval" in listing.content.decode()
    assert staff.get(reverse("user-list")).context["users"][0] == user

    # Nobody else can approve.
    other = Client()
    other.force_login(ResearcherFactory())
    assert post(other, reverse("user-approve", kwargs={"pk": user.pk})).status_code == 403
    assert post(client, reverse("user-approve", kwargs={"pk": user.pk})).status_code == 403
    user.refresh_from_db()
    assert user.approved_at is None

    response = post(staff, reverse("user-approve", kwargs={"pk": user.pk}))
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.approved_at is not None and user.has_perm("reviews.add_project")
    assert Notification.objects.filter(recipient=user, kind=NotificationKind.ACCOUNT_APPROVED).exists()
    assert ActivityEntry.objects.filter(actor=admin, object_id=str(user.pk), new__has_key="approved_at").exists()
    assert client.get(reverse("project-new")).status_code == 200
    assert "awaiting approval" not in staff.get(reverse("user-list")).content.decode()


@override_settings(REGISTRATION_MODE="closed")
@pytest.mark.django_db
def test_closed_registration_creates_no_account():
    client = Client()
    page = client.get(reverse("register"))
    assert page.status_code == 200 and "Registration is closed" in page.content.decode()
    response = post(client, reverse("register"), NEWCOMER)
    assert response.status_code == 403
    assert not User.objects.filter(username="newcomer").exists()
    assert not Project.objects.exists()
    assert mail.outbox == []
    # Nothing invites anyone to register.
    login_page = client.get(reverse("login")).content.decode()
    assert reverse("register") not in login_page and "created by the administrators" in login_page
    assert reverse("register") not in client.get(reverse("home")).content.decode()


@pytest.mark.django_db
def test_registration_is_open_and_asks_for_confirmation_by_default(catalogue):
    client = Client()
    assert f'href="{reverse("register")}"' in client.get(reverse("login")).content.decode()
    user = register(client)
    assert user.approved_at is not None and user.email_verified_at is None
    assert timezone.now() - user.date_joined < timedelta(minutes=1)
