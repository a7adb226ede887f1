"""The register's Atom feed: one entry per approval (an amendment's approval too), per
suspension and per reinstatement of a project on the register, newest first."""

from __future__ import annotations

from datetime import datetime

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape

from public.selectors.register import FeedEvent, register_events, register_settings


class RegisterFeed(Feed):  # type: ignore[type-arg]  # (Feed is generic only in django-stubs)
    feed_type = Atom1Feed
    title = "MISyn Review: public register"
    subtitle = "Approved medical image synthesis projects: approvals, suspensions and reinstatements."

    def link(self) -> str:
        return reverse("public-register")

    def feed_url(self) -> str:
        return reverse("public-feed")

    def items(self) -> list[FeedEvent]:
        return register_events(listing=register_settings().listing)

    def item_title(self, item: FeedEvent) -> str:
        verb = {"approved": "Approved", "suspended": "Approval suspended", "reinstated": "Approval reinstated"}
        return f"{verb[item.kind]}: {item.entry.title}"

    def item_description(self, item: FeedEvent) -> str:
        # Atom's summary is declared HTML: the plain texts are escaped, paragraphs kept.
        return "".join(f"<p>{escape(part)}</p>" for part in (item.text, item.entry.summary) if part)

    def item_link(self, item: FeedEvent) -> str:
        return reverse("public-project", kwargs={"pk": item.entry.pk})

    def item_guid(self, item: FeedEvent) -> str:
        # Stable whatever address the site is reached at: one id per event, never reused.
        return f"urn:misyn-register:{item.key}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: FeedEvent) -> datetime:
        return item.at

    def item_updateddate(self, item: FeedEvent) -> datetime:
        return item.at
