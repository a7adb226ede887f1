from django.urls import URLPattern, path

from letters import views

urlpatterns: list[URLPattern] = [
    path("projects/<int:pk>/rounds/<int:number>/letter.pdf", views.round_letter, name="round-letter"),
    path("projects/<int:pk>/rounds/<int:number>/round.json", views.round_export_json, name="round-export-json"),
    path("projects/<int:pk>/rounds/<int:number>/checklist.csv", views.round_export_csv, name="round-export-csv"),
    path("verify/", views.letter_verify_form, name="letter-verify-form"),
    path("verify/<str:digest>/", views.letter_verify, name="letter-verify"),
]
