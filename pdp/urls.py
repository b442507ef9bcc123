from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from pdp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("session/prolonger/", views.session_keepalive, name="session_keepalive"),
    path("session/expiree/", views.session_expired, name="session_expired"),
    path("admin/", admin.site.urls),
    path("", include("referrals.urls")),
    path("", include("cases.urls")),
    path("cellule/", include("coordination.urls")),
    path("actions-collectives/", include("collective.urls")),
    path("", include("outreach.urls")),
    path("indicateurs/", include("indicators.views")),
    path("protection-donnees/", include("privacy.urls")),
    path("", include("pdp.views_messaging")),
]
