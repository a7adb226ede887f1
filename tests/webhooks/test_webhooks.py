"""Webhooks without a worker: the outbox, one attempt at a time, the pages and their rules.

Deliveries are sent here by calling the task's service directly (the live path with a real
worker is in test_live.py); receivers are real HTTP servers on localhost that verify the
signature and the timestamp independently of the app's code.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.enums import SetRole
from audits.models import ImageSet
from audits.services.runs import audit_run_request
from public.services.objections import objection_send
from reviews.enums import Action, EventKind
from reviews.models import ActivityEntry, User
from reviews.services.decisions import project_reinstate, project_suspend
from tests.factories import ProjectFactory
from tests.webhooks.receiver import running_receiver
from tests.workflow import review, reviewers_on, sign, submitted, waive_all
from webhooks.enums import DeliveryStatus
from webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery
from webhooks.selectors import hooks_managed_by
from webhooks.services.deliveries import delivery_attempt
from webhooks.services.hooks import delivery_redeliver, webhook_create, webhook_send_test
from webhooks.validators import hook_target

pytestmark = pytest.mark.django_db

ALL = list(EventKind.values)
OWNER_EVENTS = [EventKind.AUDIT_RUN_FINISHED, EventKind.PROJECT_SUBMITTED, EventKind.DECISION_MADE]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _hook(user: User, project, url: str = "http://127.0.0.1:9/hook", events: list[str] | None = None) -> Webhook:
    return webhook_create(actor=user, project=project, url=url, events=events or OWNER_EVENTS)


def _due_now(delivery: WebhookDelivery) -> None:
    """Skip the retry's wait (what the reconciler would find due later)."""
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# ---------------------------------------------------------------------------------------
# The outbox


def test_submitting_writes_one_thin_delivery_for_the_projects_hooks_only(researcher, other_researcher, project):
    hook = _hook(researcher, project)
    _hook(researcher, ProjectFactory(owner=researcher), url="http://127.0.0.1:9/other-project")
    _hook(other_researcher, ProjectFactory(owner=other_researcher), url="http://127.0.0.1:9/otto")
    round_ = submitted(project)

    delivery = WebhookDelivery.objects.get()
    assert delivery.hook == hook and delivery.event == EventKind.PROJECT_SUBMITTED
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at <= timezone.now()
    payload = delivery.payload
    assert payload["event"] == "project.submitted" and payload["event_id"] == str(delivery.event_id)
    assert payload["project"]["id"] == project.pk and payload["project"]["title"] == project.title
    assert payload["project"]["url"].endswith(f"/api/v1/projects/{project.pk}/")
    assert payload["object"] == {
        "type": "round",
        "id": 1,
        "url": payload["project"]["url"] + "rounds/1/",
    }
    assert payload["data"] == {"round": 1, "digest": round_.digest}


def test_a_rolled_back_change_leaves_no_delivery(researcher, project):
    _hook(researcher, project)
    with pytest.raises(RuntimeError), transaction.atomic():
        submitted(project)
        assert WebhookDelivery.objects.count() == 1  # written inside the change's transaction
        raise RuntimeError("the request failed after submitting")
    assert WebhookDelivery.objects.count() == 0
    assert project.rounds.count() == 0


def test_paused_hooks_and_unsubscribed_events_get_nothing(researcher, project):
    Webhook.objects.filter(pk=_hook(researcher, project).pk).update(is_active=False)
    _hook(researcher, project, events=[EventKind.AUDIT_RUN_FINISHED])
    submitted(project)
    assert WebhookDelivery.objects.count() == 0


def test_a_decision_reaches_the_owner_and_an_admins_every_project_hook(researcher, admin_user, project):
    mine = _hook(researcher, project, events=[EventKind.DECISION_MADE])
    everywhere = _hook(admin_user, None, url="http://127.0.0.1:9/board", events=[EventKind.DECISION_MADE])
    round_ = submitted(project)
    team = reviewers_on(project, admin=admin_user)
    for reviewer in team:
        review(round_, reviewer)
    waive_all(round_, team[0])
    for reviewer in team:
        sign(round_, reviewer)
    deliveries = WebhookDelivery.objects.filter(event=EventKind.DECISION_MADE)
    assert {d.hook_id for d in deliveries} == {mine.pk, everywhere.pk}
    assert len({d.event_id for d in deliveries}) == 1  # one event, the same id on both hooks
    assert deliveries[0].payload["data"] == {
        "round": 1, "digest": round_.digest, "outcome": "approved", "status": "approved",
    }  # fmt: skip


def test_suspending_and_reinstating_an_approval_are_decisions(researcher, admin_user, project):
    hook = _hook(researcher, project, events=[EventKind.DECISION_MADE])
    round_ = submitted(project)
    team = reviewers_on(project, admin=admin_user)
    for reviewer in team:
        review(round_, reviewer)
    waive_all(round_, team[0])
    for reviewer in team:
        sign(round_, reviewer)
    project_suspend(actor=admin_user, project=project, reason="An upheld objection.")
    project_reinstate(actor=admin_user, project=project, reason="Answered.")
    deliveries = WebhookDelivery.objects.filter(hook=hook).order_by("created_at")
    assert [(d.payload["data"]["outcome"], d.payload["data"]["status"]) for d in deliveries] == [
        ("approved", "approved"), ("suspended", "suspended"), ("reinstated", "approved"),
    ]  # fmt: skip
    assert {(d.payload["object"]["type"], d.payload["object"]["id"]) for d in deliveries} == {("round", 1)}
    assert deliveries[1].payload["data"]["digest"] == round_.digest
    assert len({d.event_id for d in deliveries}) == 3


def test_a_queued_run_cancelled_by_a_newer_request_is_a_finished_run(researcher, project):
    hook = _hook(researcher, project, events=[EventKind.AUDIT_RUN_FINISHED])
    image_set = ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=researcher, digest="a" * 64, n_files=3, n_accepted=3
    )
    first = audit_run_request(project=project, actor=researcher, reason="first upload")
    ImageSet.objects.filter(pk=image_set.pk).update(digest="c" * 64)
    audit_run_request(project=project, actor=researcher, reason="second upload")
    delivery = WebhookDelivery.objects.get(hook=hook)
    assert delivery.payload["object"]["id"] == first.pk
    assert delivery.payload["data"] == {"status": "cancelled", "verdicts": {}}


def test_an_objection_reaches_admins_without_its_text_name_or_email(researcher, admin_user, project):
    hook = _hook(admin_user, None, events=ALL)
    text = "SECRET-OBJECTION-TEXT about consent"
    sent = objection_send(
        project=project, title=project.title, kind="objection", text=text, name="Sam Secret", email="sam@secret.example"
    )
    delivery = WebhookDelivery.objects.get(hook=hook)
    body = json.dumps(delivery.payload)
    assert delivery.event == EventKind.OBJECTION_RECEIVED
    assert delivery.payload["object"]["id"] == sent.objection.pk and delivery.payload["data"] == {"kind": "objection"}
    for secret in (text, "SECRET-OBJECTION", "Sam Secret", "sam@secret.example", sent.token):
        assert secret not in body


def test_an_owner_cannot_subscribe_to_objections(researcher, project):
    with pytest.raises(ValidationError, match="Only administrators receive objections"):
        _hook(researcher, project, events=[EventKind.OBJECTION_RECEIVED])
    response = _client(researcher).post(
        reverse("webhook-new"),
        {"project": project.pk, "url": "http://127.0.0.1:9/hook", "events": [EventKind.OBJECTION_RECEIVED]},
    )
    assert response.status_code == 200 and "objection.received is not one of the available choices" in (
        response.content.decode()
    )
    assert not Webhook.objects.exists()


def test_an_owner_whose_hook_was_forced_onto_objections_still_gets_none(researcher, project):
    """A hook row that says objection.received (say, made before a role change) delivers none."""
    hook = _hook(researcher, project)
    Webhook.objects.filter(pk=hook.pk).update(events=ALL)
    objection_send(project=project, title=project.title, kind="question", text="How?")
    assert not WebhookDelivery.objects.exists()


# ---------------------------------------------------------------------------------------
# Sending


def test_a_failed_attempt_is_retried_and_the_second_succeeds(researcher, project, settings):
    settings.WEBHOOK_RETRY_DELAYS = [60, 600]
    with running_receiver(statuses=[500, 200]) as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        receiver.secret = hook.secret
        submitted(project)
        delivery = WebhookDelivery.objects.get()

        before = timezone.now()
        assert delivery_attempt(delivery_id=str(delivery.pk)) == DeliveryStatus.PENDING
        delivery.refresh_from_db()
        assert delivery.attempts == 1
        assert before + timedelta(seconds=59) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=61)
        assert delivery_attempt(delivery_id=str(delivery.pk)) is None  # not due yet: nothing is sent
        assert len(receiver.received) == 1

        _due_now(delivery)
        assert delivery_attempt(delivery_id=str(delivery.pk)) == DeliveryStatus.SUCCEEDED
        assert delivery_attempt(delivery_id=str(delivery.pk)) is None  # a duplicate message sends nothing

    first, second = receiver.received
    assert first.verified and second.verified
    assert first.payload == second.payload == delivery.payload
    assert second.headers["X-MISyn-Event"] == "project.submitted"
    assert second.headers["X-MISyn-Delivery"] == str(delivery.pk)
    assert second.headers["User-Agent"] == "MISyn-Review-Webhooks/1"
    assert second.headers["Content-Type"] == "application/json"
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 200)]
    assert json.loads(attempts[0].response_body) == {"attempt": 1, "status": 500}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.delivered_at is not None
    assert delivery.next_attempt_at is None


def test_a_receiver_that_always_fails_ends_failed_after_the_retries(researcher, project, settings):
    settings.WEBHOOK_RETRY_DELAYS = [1, 2]
    with running_receiver(statuses=[503]) as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        delivery = webhook_send_test(actor=researcher, hook=hook)
        statuses = []
        for _ in range(5):
            _due_now(delivery)
            statuses.append(delivery_attempt(delivery_id=str(delivery.pk)))
    assert statuses == [DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.FAILED, None, None]
    assert len(receiver.received) == 3  # the first attempt and one per delay
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3 and delivery.next_attempt_at is None


def test_the_response_kept_is_truncated_and_a_refused_connection_is_recorded(researcher, project, settings):
    settings.WEBHOOK_RETRY_DELAYS = []
    settings.WEBHOOK_RESPONSE_KEEP_BYTES = 10
    with running_receiver(statuses=[200]) as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        delivery = webhook_send_test(actor=researcher, hook=hook)
        delivery_attempt(delivery_id=str(delivery.pk))
    assert DeliveryAttempt.objects.get(delivery=delivery).response_body == '{"attempt"'
    # The receiver is gone: its port refuses the connection.
    again = webhook_send_test(actor=researcher, hook=hook)
    assert delivery_attempt(delivery_id=str(again.pk)) == DeliveryStatus.FAILED
    attempt = DeliveryAttempt.objects.get(delivery=again)
    # Said in words first, the technical detail short after it.
    assert attempt.status_code is None and attempt.error.startswith("The receiver refused the connection. (")
    assert "ConnectionRefusedError" in attempt.error and len(attempt.error) < 200
    page = _client(researcher).get(hook.get_absolute_url()).content.decode()
    assert "The receiver refused the connection." in page


def test_redelivery_is_a_new_delivery_with_the_same_event_id(researcher, project, settings):
    settings.WEBHOOK_RETRY_DELAYS = []
    with running_receiver(statuses=[500, 204]) as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        receiver.secret = hook.secret
        failed = webhook_send_test(actor=researcher, hook=hook)
        assert delivery_attempt(delivery_id=str(failed.pk)) == DeliveryStatus.FAILED
        again = delivery_redeliver(actor=researcher, delivery=failed)
        assert delivery_attempt(delivery_id=str(again.pk)) == DeliveryStatus.SUCCEEDED
    assert again.pk != failed.pk and again.event_id == failed.event_id and again.redelivery_of_id == failed.pk
    assert [r.payload["event_id"] for r in receiver.received] == [str(failed.event_id)] * 2
    assert all(r.verified for r in receiver.received)
    with pytest.raises(ValidationError):
        delivery_redeliver(actor=researcher, delivery=again)


def test_a_rotated_secret_signs_the_next_delivery(researcher, project, settings):
    with running_receiver() as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        old_secret = hook.secret
        response = _client(researcher).post(reverse("webhook-rotate", kwargs={"pk": hook.pk}))
        assert response.status_code == 302
        hook.refresh_from_db()
        assert hook.secret != old_secret and len(hook.secret) >= 38
        receiver.secret = old_secret
        delivery_attempt(delivery_id=str(webhook_send_test(actor=researcher, hook=hook).pk))
        receiver.secret = hook.secret
        delivery_attempt(delivery_id=str(webhook_send_test(actor=researcher, hook=hook).pk))
    assert [r.verified for r in receiver.received] == [False, True]
    entry = ActivityEntry.objects.filter(object_type="webhooks.webhook", action=Action.CHANGE).get()
    assert entry.new == {"secret": "rotated"} and hook.secret not in json.dumps(entry.new)


# ---------------------------------------------------------------------------------------
# Private addresses


def test_private_addresses_are_refused_at_registration_when_not_allowed(researcher, project, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.1.2.3/", "http://169.254.169.254/",
                "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://224.0.0.1/", "http://0.0.0.0/"):  # fmt: skip
        with pytest.raises(ValidationError, match="private, loopback"):
            hook_target(url)
    response = _client(researcher).post(
        reverse("webhook-new"),
        {"project": project.pk, "url": "http://169.254.169.254/latest/meta-data/", "events": OWNER_EVENTS},
    )
    assert response.status_code == 200
    assert "resolves to a private, loopback, link-local, multicast, reserved or" in response.content.decode()
    assert not Webhook.objects.exists()
    assert hook_target("http://93.184.215.14/hook").addresses == ("93.184.215.14",)


def test_ipv6_tunnels_that_embed_an_ipv4_address_are_refused(settings):
    """6to4 and Teredo addresses hand the connection to a relay towards an IPv4 address, a
    private one as easily as a public one (Python counts 6to4 as global)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    for url in ("http://[2002:808:808::1]/hook", "http://[2002:c0a8:101::1]/hook", "http://[2002:7f00:1::]/",
                "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "http://[2001:0:808:808::1]/"):  # fmt: skip
        with pytest.raises(ValidationError, match="6to4, Teredo"):
            hook_target(url)
    assert hook_target("http://[2606:4700:4700::1111]/hook").addresses == ("2606:4700:4700::1111",)


def test_private_addresses_are_refused_at_delivery_when_not_allowed(researcher, project, settings):
    with running_receiver() as receiver:
        hook = _hook(researcher, project, url=receiver.url)  # allowed while registering
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        settings.WEBHOOK_RETRY_DELAYS = []
        delivery = webhook_send_test(actor=researcher, hook=hook)
        assert delivery_attempt(delivery_id=str(delivery.pk)) == DeliveryStatus.FAILED
    assert receiver.received == []
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and attempt.error.startswith(
        "Not sent: The host 127.0.0.1 resolves to a private"
    )


def test_urls_with_credentials_or_other_schemes_are_refused():
    for url, message in (("ftp://example.org/", "http:// or https://"), ("http://user:pw@example.org/", "user name"),
                         ("http://[::1/", "valid URL"), ("https:///path", "host name")):  # fmt: skip
        with pytest.raises(ValidationError, match=message):
            hook_target(url)


# ---------------------------------------------------------------------------------------
# Pages


def test_another_owners_hook_is_not_found_and_not_listed(researcher, other_researcher, project):
    hook = _hook(researcher, project, url="http://127.0.0.1:9/rosas-secret-receiver")
    other = _client(other_researcher)
    for name in ("webhook-detail", "webhook-edit"):
        response = other.get(reverse(name, kwargs={"pk": hook.pk}))
        assert response.status_code == 404 and hook.secret not in response.content.decode()
    for name in ("webhook-test", "webhook-rotate", "webhook-delete"):
        assert other.post(reverse(name, kwargs={"pk": hook.pk})).status_code == 404
    assert "rosas-secret-receiver" not in other.get(reverse("webhook-list")).content.decode()
    assert Webhook.objects.get().secret == hook.secret and not WebhookDelivery.objects.exists()


def test_a_hook_is_lost_with_the_project(researcher, other_researcher, project):
    hook = _hook(researcher, project)
    project.owner = other_researcher
    project.save(update_fields=["owner"])
    assert _client(researcher).get(reverse("webhook-detail", kwargs={"pk": hook.pk})).status_code == 404
    submitted(project)
    assert not WebhookDelivery.objects.exists()  # the old owner's hook hears nothing of it


def test_an_admins_hook_on_a_project_is_the_boards_not_the_owners(researcher, admin_user, project, settings):
    """The board's hook on the owner's project tells of objections the owner must not see yet:
    the owner neither sees it (secret, delivery log) nor acts on it."""
    settings.WEBHOOK_RETRY_DELAYS = []
    board = _hook(admin_user, project, url="http://127.0.0.1:9/board-receiver", events=ALL)
    objection_send(project=project, title=project.title, kind="objection", text="x")
    delivery = WebhookDelivery.objects.get(hook=board)
    assert delivery_attempt(delivery_id=str(delivery.pk)) == DeliveryStatus.FAILED  # nobody listens on port 9
    owner = _client(researcher)
    for name in ("webhook-detail", "webhook-edit"):
        response = owner.get(reverse(name, kwargs={"pk": board.pk}))
        assert response.status_code == 404 and board.secret not in response.content.decode()
    for name in ("webhook-test", "webhook-rotate", "webhook-delete"):
        assert owner.post(reverse(name, kwargs={"pk": board.pk})).status_code == 404
    redeliver = reverse("webhook-redeliver", kwargs={"pk": board.pk, "delivery_id": delivery.pk})
    assert owner.post(redeliver).status_code == 404
    listed = owner.get(reverse("webhook-list", query={"project": project.pk})).content.decode()
    assert "board-receiver" not in listed
    assert Webhook.objects.get().secret == board.secret and WebhookDelivery.objects.count() == 1
    admin_page = _client(admin_user).get(reverse("webhook-detail", kwargs={"pk": board.pk}))
    assert admin_page.status_code == 200 and board.secret in admin_page.content.decode()


def test_the_list_shows_exactly_the_hooks_the_rule_lets_manage(
    researcher, other_researcher, reviewer, admin_user, project
):
    theirs = ProjectFactory(owner=other_researcher)
    hooks = [
        _hook(researcher, project),
        _hook(admin_user, project, events=ALL),
        _hook(admin_user, None, events=ALL),
        _hook(other_researcher, theirs),
    ]
    handed_over = _hook(researcher, ProjectFactory(owner=researcher))
    handed_over.project.owner = other_researcher
    handed_over.project.save(update_fields=["owner"])
    hooks.append(handed_over)
    for user in (researcher, other_researcher, reviewer, admin_user, AnonymousUser()):
        allowed = {hook.pk for hook in hooks if user.has_perm("webhooks.manage_webhook", hook)}
        assert {hook.pk for hook in hooks_managed_by(user)} == allowed, user
    assert {h.pk for h in hooks_managed_by(researcher)} == {hooks[0].pk}
    assert {h.pk for h in hooks_managed_by(other_researcher)} == {hooks[3].pk}
    assert {h.pk for h in hooks_managed_by(admin_user)} == {h.pk for h in hooks}


def test_a_delivery_is_not_sent_or_sent_again_once_its_creator_lost_the_event(
    researcher, other_researcher, project, settings
):
    settings.WEBHOOK_RETRY_DELAYS = [60, 600]
    with running_receiver() as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        submitted(project)
        pending = WebhookDelivery.objects.get(hook=hook)
        project.owner = other_researcher
        project.save(update_fields=["owner"])
        assert delivery_attempt(delivery_id=str(pending.pk)) == DeliveryStatus.FAILED
    assert receiver.received == []
    attempt = DeliveryAttempt.objects.get(delivery=pending)
    assert attempt.status_code is None and "no longer receives this event" in attempt.error
    with pytest.raises(ValidationError, match="no longer receives this event"):
        delivery_redeliver(actor=researcher, delivery=pending)
    assert WebhookDelivery.objects.count() == 1


def test_test_events_and_redeliveries_are_throttled_per_user(researcher, admin_user, project, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "webhook-send-user": (2, 3600)}
    hook = _hook(researcher, project)
    failed = WebhookDelivery.objects.create(
        hook=hook, event=EventKind.PROJECT_SUBMITTED, payload={"event": "project.submitted"},
        status=DeliveryStatus.FAILED, attempts=6, next_attempt_at=None,
    )  # fmt: skip
    owner = _client(researcher)
    test_url = reverse("webhook-test", kwargs={"pk": hook.pk})
    redeliver_url = reverse("webhook-redeliver", kwargs={"pk": hook.pk, "delivery_id": failed.pk})
    assert owner.post(test_url).status_code == 302
    assert owner.post(redeliver_url).status_code == 302
    refused = owner.post(test_url)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "webhook test events and redeliveries" in refused.content.decode()
    assert owner.post(redeliver_url).status_code == 429
    assert WebhookDelivery.objects.filter(is_test=True).count() == 1
    assert WebhookDelivery.objects.filter(redelivery_of=failed).count() == 1
    assert _client(admin_user).post(test_url).status_code == 302  # another user's own count


def test_registering_editing_and_deleting_are_logged(researcher, project):
    client = _client(researcher)
    response = client.post(
        reverse("webhook-new"),
        {"project": project.pk, "url": "http://127.0.0.1:9/hook", "events": [EventKind.PROJECT_SUBMITTED]},
    )
    hook = Webhook.objects.get()
    assert response.status_code == 302 and response["Location"] == hook.get_absolute_url()
    assert hook.project == project and hook.events == ["project.submitted"] and hook.created_by == researcher
    response = client.get(hook.get_absolute_url())
    page = response.content.decode()
    assert hook.secret in page and "Send test event" in page and "No deliveries yet" in page
    assert "no-store" in response["Cache-Control"]

    client.post(
        reverse("webhook-edit", kwargs={"pk": hook.pk}),
        {"url": "http://127.0.0.1:9/new", "events": [EventKind.DECISION_MADE]},
    )
    hook.refresh_from_db()
    assert hook.url == "http://127.0.0.1:9/new" and not hook.is_active
    client.post(reverse("webhook-delete", kwargs={"pk": hook.pk}))
    assert not Webhook.objects.exists()
    entries = ActivityEntry.objects.filter(object_type="webhooks.webhook").order_by("pk")
    assert [(e.action, e.project_id) for e in entries] == [
        (Action.CREATE, project.pk), (Action.CHANGE, project.pk), (Action.DELETE, project.pk),
    ]  # fmt: skip
    assert entries[1].old == {"url": "http://127.0.0.1:9/hook", "events": ["project.submitted"], "is_active": True}
    assert entries[1].new == {"url": "http://127.0.0.1:9/new", "events": ["decision.made"], "is_active": False}


def test_only_admins_register_hooks_for_every_project(researcher, admin_user, project):
    form = {"project": "", "url": "http://127.0.0.1:9/hook", "events": [EventKind.DECISION_MADE]}
    response = _client(researcher).post(reverse("webhook-new"), form)
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert "Every project" not in response.content.decode()
    response = _client(admin_user).post(reverse("webhook-new"), {**form, "events": ALL})
    hook = Webhook.objects.get()
    assert response.status_code == 302 and hook.project is None and set(hook.events) == set(ALL)


def test_the_delivery_log_shows_attempts_newest_first(researcher, project, settings):
    settings.WEBHOOK_RETRY_DELAYS = [0]
    with running_receiver(statuses=[500, 200]) as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        client = _client(researcher)
        assert client.post(reverse("webhook-test", kwargs={"pk": hook.pk})).status_code == 302
        delivery = WebhookDelivery.objects.get()
        assert delivery.is_test and delivery.event == "ping"
        delivery_attempt(delivery_id=str(delivery.pk))
        _due_now(delivery)
        delivery_attempt(delivery_id=str(delivery.pk))
    page = client.get(hook.get_absolute_url()).content.decode()
    assert page.index("HTTP 200") < page.index("HTTP 500")
    assert "Delivered" in page and str(delivery.event_id) in page and "&quot;attempt&quot;: 2" in page


@pytest.mark.parametrize("n", [1, 6])
def test_the_list_and_the_log_take_a_fixed_number_of_queries(researcher, project, django_assert_num_queries, n):
    client = _client(researcher)
    for i in range(n):
        hook = _hook(researcher, project, url=f"http://127.0.0.1:9/hook-{i}")
        for _ in range(n):
            webhook_send_test(actor=researcher, hook=hook)
    client.get(reverse("webhook-list"))  # warm the session and the permission caches
    with django_assert_num_queries(4):
        response = client.get(reverse("webhook-list"))
    assert response.content.decode().count("Pending") == n
    with django_assert_num_queries(7):
        client.get(hook.get_absolute_url())


def test_the_receiver_in_the_docs_verifies_a_real_delivery(researcher, project):
    """docs/webhooks.md's snippet, run as written, accepts a real delivery and refuses a forgery."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", docs, re.DOTALL)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 (our own documentation, to prove it works)
    with running_receiver() as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        delivery_attempt(delivery_id=str(webhook_send_test(actor=researcher, hook=hook).pk))
    (received,) = receiver.received
    verified = namespace["verified"]
    assert verified(hook.secret, received.headers, received.body)
    assert not verified(hook.secret, received.headers, received.body.replace(b"ping", b"pong"))
    assert not verified("whsec_another", received.headers, received.body)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "http://exa\x00mple.org/", "Null characters are not allowed"),
        ("url", "http://" + "a" * 600 + ".org/", "at most 500 characters"),
        ("url", "http://" + "a" * 70 + ".org/", "could not be resolved"),
        ("url", "javascript:alert(1)", "http:// or https://"),
        ("url", "http://127.0.0.1:99999/", "valid URL"),
        ("events", "no.such.event", "not one of the available choices"),
        ("project", "999999999999999999999", "not one of the available choices"),
        ("project", "<script>", "not one of the available choices"),
    ],
)
def test_hostile_values_are_refused_by_field_and_kept(researcher, project, field, value, message):
    form = {"project": project.pk, "url": "http://127.0.0.1:9/hook", "events": [EventKind.PROJECT_SUBMITTED]}
    response = _client(researcher).post(reverse("webhook-new"), {**form, field: value})
    page = response.content.decode()
    assert response.status_code == 200 and message in page
    assert f'id="error_1_id_{field}"' in page  # the error sits under its own field
    assert not Webhook.objects.exists()


def test_a_delivery_of_another_hook_is_not_found_under_mine(researcher, other_researcher, project, settings):
    settings.WEBHOOK_RETRY_DELAYS = []
    mine = _hook(researcher, project)
    theirs = _hook(other_researcher, ProjectFactory(owner=other_researcher))
    failed = webhook_send_test(actor=other_researcher, hook=theirs)
    delivery_attempt(delivery_id=str(failed.pk))  # port 9 refuses: failed at once
    url = reverse("webhook-redeliver", kwargs={"pk": mine.pk, "delivery_id": failed.pk})
    assert _client(researcher).post(url).status_code == 404
    assert WebhookDelivery.objects.count() == 1


def test_a_projects_link_lists_its_hooks_and_preselects_it(researcher, project):
    other_project = ProjectFactory(owner=researcher, title="Another of Rosa's projects")
    _hook(researcher, project, url="http://127.0.0.1:9/this-project")
    _hook(researcher, other_project, url="http://127.0.0.1:9/other-project")
    client = _client(researcher)
    page = client.get(reverse("webhook-list"), {"project": project.pk}).content.decode()
    assert "this-project" in page and "other-project" not in page
    assert f'href="{reverse("webhook-new")}?project={project.pk}"' in page
    form = client.get(reverse("webhook-new"), {"project": project.pk}).content.decode()
    assert f'<option value="{project.pk}" selected>' in form
    for junk in ("abc", "-1", "9" * 30):
        assert client.get(reverse("webhook-list"), {"project": junk}).status_code == 200


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "localhost.pem", folder / "localhost-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_receivers_are_verified_against_the_hooks_host_name(researcher, project, settings, tmp_path, monkeypatch):
    settings.WEBHOOK_RETRY_DELAYS = []
    cert, key = _self_signed(tmp_path)
    with running_receiver(tls=(cert, key)) as receiver:
        hook = _hook(researcher, project, url=receiver.url)
        receiver.secret = hook.secret
        untrusted = webhook_send_test(actor=researcher, hook=hook)
        assert delivery_attempt(delivery_id=str(untrusted.pk)) == DeliveryStatus.FAILED
        error = DeliveryAttempt.objects.get(delivery=untrusted).error
        assert (
            error.startswith("The receiver's TLS certificate was not accepted") and "CERTIFICATE_VERIFY_FAILED" in error
        )
        assert receiver.received == []

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the receiver's certificate is now trusted
        trusted = webhook_send_test(actor=researcher, hook=hook)
        assert delivery_attempt(delivery_id=str(trusted.pk)) == DeliveryStatus.SUCCEEDED
    (received,) = receiver.received
    assert received.verified and received.headers["Host"].startswith("localhost:")


def test_link_local_addresses_are_refused_even_where_private_ones_are_allowed(researcher, project, settings):
    """169.254.169.254 is the cloud metadata service: never a developer's receiver."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(ValidationError, match="link-local"):
            hook_target(url)
    response = _client(researcher).post(
        reverse("webhook-new"),
        {"project": project.pk, "url": "http://169.254.169.254/latest/meta-data/", "events": OWNER_EVENTS},
    )
    assert response.status_code == 200 and "resolves to a link-local address" in response.content.decode()
    assert not Webhook.objects.exists()
    assert hook_target("http://127.0.0.1:8000/hook").addresses == ("127.0.0.1",)  # local receivers stay allowed


def test_the_pages_explain_signatures_in_words_and_link_the_api_docs(researcher, project):
    hook = _hook(researcher, project)
    owner = _client(researcher)
    listing = owner.get(reverse("webhook-list")).content.decode()
    assert "docs/webhooks.md" not in listing  # a path in the repository, not a page a user can open
    assert f'href="{reverse("api:docs")}"' in listing and "X-MISyn-Signature" in listing
    detail = owner.get(hook.get_absolute_url()).content.decode()
    assert 'data-copy-target="hook-secret"' in detail and "js/webhooks.js" in detail


def test_no_event_ticked_is_one_error_on_events(researcher, project):
    response = _client(researcher).post(reverse("webhook-new"), {"project": project.pk, "url": "http://127.0.0.1:9/"})
    assert response.context["form"].errors == {"events": ["Choose at least one event."]}
    assert not Webhook.objects.exists()


def test_a_test_event_says_it_is_queued_and_asks_for_one_refresh(researcher, project):
    hook = _hook(researcher, project)
    owner = _client(researcher)
    response = owner.post(reverse("webhook-test", kwargs={"pk": hook.pk}))
    assert response["Location"] == f"{hook.get_absolute_url()}?sent=1"
    page = owner.get(response["Location"]).content.decode()
    assert "its delivery appears in the log below within a few seconds" in page and "Reload this page" not in page
    assert 'data-refresh-once="4"' in page
    assert "data-refresh-once" not in owner.get(hook.get_absolute_url()).content.decode()
