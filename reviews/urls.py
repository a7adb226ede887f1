from django.contrib.auth import views as auth_views
from django.urls import path

from reviews.forms import LoginForm
from reviews.views import accounts, assignments, catalogue, decisions, home, notifications, projects, reviewing

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
    path("projects/<int:pk>/withdraw/", decisions.project_withdraw_view, name="project-withdraw"),
    path("projects/<int:pk>/amend/", decisions.project_amend_view, name="project-amend"),
    path("projects/<int:pk>/assignments/", assignments.assignment_list, name="assignment-list"),
    path(
        "projects/<int:pk>/assignments/<int:assignment_pk>/remove/",
        assignments.assignment_remove_view,
        name="assignment-remove",
    ),
    path("projects/<int:pk>/invitation/", assignments.assignment_respond_view, name="assignment-respond"),
    path("projects/<int:pk>/conflict/", assignments.conflict_declare_view, name="conflict-declare"),
    path("projects/<int:pk>/rounds/<int:number>/review/", reviewing.round_review, name="round-review"),
    path("projects/<int:pk>/rounds/<int:number>/waive/<str:audit>/", reviewing.audit_waive_view, name="audit-waive"),
    path("projects/<int:pk>/rounds/<int:number>/changes/", reviewing.round_diff, name="round-diff"),
    path("projects/<int:pk>/rounds/<int:number>/sign/", decisions.round_sign_view, name="round-sign"),
    path("reviews/", assignments.my_reviews, name="my-reviews"),
    path("notifications/", notifications.notification_list, name="notification-list"),
    path("notifications/read/", notifications.notification_read, name="notification-read"),
    path("catalogue/", catalogue.catalogue_list, name="catalogue-list"),
    path("catalogue/<int:pk>/", catalogue.catalogue_detail, name="catalogue-detail"),
    path("staff/users/", accounts.user_list, name="user-list"),
    path("staff/users/new/", accounts.user_new, name="user-new"),
    path("staff/users/<int:pk>/", accounts.user_edit, name="user-edit"),
]
