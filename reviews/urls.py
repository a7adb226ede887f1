from django.contrib.auth import views as auth_views
from django.urls import path

from reviews.forms import LoginForm
from reviews.views import accounts, catalogue, home, projects

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/register/", accounts.register, name="register"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", accounts.PasswordChangeView.as_view(), name="password-change"),
    path("projects/", projects.project_list, name="project-list"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<int:pk>/", projects.project_detail, name="project-detail"),
    path("projects/<int:pk>/edit/", projects.project_edit, name="project-edit"),
    path("projects/<int:pk>/checklist/", projects.project_checklist_view, name="project-checklist"),
    path("projects/<int:pk>/checklist/<str:code>/", projects.answer_edit, name="answer-edit"),
    path("projects/<int:pk>/evidence/<int:evidence_pk>/", projects.evidence_download, name="evidence-download"),
    path("projects/<int:pk>/evidence/<int:evidence_pk>/delete/", projects.evidence_remove, name="evidence-delete"),
    path("projects/<int:pk>/submit/", projects.project_submit_view, name="project-submit"),
    path("projects/<int:pk>/rounds/<int:number>/", projects.round_detail, name="round-detail"),
    path("projects/<int:pk>/history/", projects.project_history, name="project-history"),
    path("catalogue/", catalogue.catalogue_list, name="catalogue-list"),
    path("catalogue/<int:pk>/", catalogue.catalogue_detail, name="catalogue-detail"),
    path("staff/users/", accounts.user_list, name="user-list"),
    path("staff/users/new/", accounts.user_new, name="user-new"),
    path("staff/users/<int:pk>/", accounts.user_edit, name="user-edit"),
]
