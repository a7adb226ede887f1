"""The listing choice at submission follows the board's setting; the setting page is the
admins', and every change of it is logged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from public.models import Listing, RegisterSettings
from public.services.register import register_settings_update
from reviews.enums import Action
from reviews.models import ActivityEntry
from reviews.services.chain import chain_verify
from tests.public.register_world import set_listing
from tests.workflow import answer_everything

pytestmark = pytest.mark.django_db

CHECKBOX = 'name="public_listing"'


@pytest.mark.parametrize(
    ("listing", "checkbox", "ticked"),
    [(Listing.OPT_IN, True, False), (Listing.DEFAULT, True, True), (Listing.MANDATORY, False, None)],
    ids=["opt-in", "default", "mandatory"],
)
def test_the_submission_page_asks_with_the_boards_default(client, project, listing, checkbox, ticked):
    set_listing(listing)
    answer_everything(project)
    client.force_login(project.owner)
    page = client.get(reverse("project-submit", kwargs={"pk": project.pk})).content.decode()

    assert "List this project on the public register once it is approved" in page or not checkbox
    assert (CHECKBOX in page) == checkbox
    if checkbox:
        tag = page[page.index(CHECKBOX) - 80 : page.index(CHECKBOX) + 120]
        assert ("checked" in tag) == ticked
    else:
        assert "The board lists every approved project" in page
    assert "no evidence files, images, reviewer comments or your name and email" in page


@pytest.mark.parametrize(
    ("listing", "posted", "stored"),
    [
        (Listing.OPT_IN, {}, False),
        (Listing.OPT_IN, {"public_listing": "on"}, True),
        (Listing.DEFAULT, {}, False),  # unticked by the researcher
        (Listing.DEFAULT, {"public_listing": "on"}, True),
        (Listing.MANDATORY, {}, False),  # no choice made: the setting lists it, not the researcher
        (Listing.MANDATORY, {"public_listing": "on"}, False),  # a forged tick is no choice either
    ],
    ids=["opt-in-unticked", "opt-in-ticked", "default-unticked", "default-ticked", "mandatory", "mandatory-forged"],
)
def test_the_choice_is_stored_with_the_submission_and_logged(client, project, listing, posted, stored):
    set_listing(listing)
    answer_everything(project)
    client.force_login(project.owner)
    response = client.post(reverse("project-submit", kwargs={"pk": project.pk}), posted)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.public_listing is stored
    entry = ActivityEntry.objects.get(project=project, action=Action.SUBMIT)
    assert entry.new["public_listing"] is stored and entry.old["public_listing"] is False


def test_admins_change_the_setting_through_the_page_and_it_is_logged(client, admin_user):
    client.force_login(admin_user)
    url = reverse("register-settings")
    page = client.get(url).content.decode()
    assert "Every approved project is listed" in page and "show signers" in page.lower()

    response = client.post(url, {"listing": Listing.MANDATORY, "show_signer_names": "on"})
    assert response.status_code == 302 and response["Location"] == url
    saved = RegisterSettings.objects.get(pk=1)
    assert (saved.listing, saved.show_signer_names, saved.updated_by) == (Listing.MANDATORY, True, admin_user)
    entry = ActivityEntry.objects.get(object_type="public.registersettings")
    assert entry.old == {"listing": Listing.OPT_IN, "show_signer_names": False}
    assert entry.new == {"listing": Listing.MANDATORY, "show_signer_names": True}
    assert list(chain_verify(ActivityEntry)) == []
    assert "Register settings saved." in client.get(url).content.decode()


def test_a_bad_mode_is_named_and_nothing_changes(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("register-settings"), {"listing": "everyone!"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not RegisterSettings.objects.exists()
    assert not ActivityEntry.objects.filter(object_type="public.registersettings").exists()


def test_saving_the_same_setting_again_logs_nothing_new(admin_user):
    register_settings_update(actor=admin_user, listing=Listing.DEFAULT, show_signer_names=False)
    register_settings_update(actor=admin_user, listing=Listing.DEFAULT, show_signer_names=False)
    assert ActivityEntry.objects.filter(object_type="public.registersettings").count() == 1


def test_others_are_refused_with_a_reason(client, researcher):
    client.force_login(researcher)
    response = client.get(reverse("register-settings"))
    assert response.status_code == 403
    assert "only administrators change them" in response.content.decode()
