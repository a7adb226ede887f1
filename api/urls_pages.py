"""The API's pages in the app (not under /api/v1/): personal tokens and the board's token list."""

from django.urls import path

from api.views import pages

urlpatterns = [
    path("account/tokens/", pages.token_list, name="api-tokens"),
    path("account/tokens/<int:token_id>/revoke/", pages.token_revoke_view, name="api-token-revoke"),
    path("board/tokens/", pages.token_admin_list, name="api-token-admin"),
]
