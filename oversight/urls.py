from django.urls import URLPattern, path

from oversight import views

urlpatterns: list[URLPattern] = [
    path("board/", views.board_dashboard, name="board-dashboard"),
    path("board/export.csv", views.board_export, name="board-export"),
]
