from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from pdp import health, views, views_two_factor
from pdp.two_factor import otp_not_required

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", otp_not_required(auth_views.LogoutView.as_view()), name="logout"),
    path("accounts/deux-facteurs/", views_two_factor.two_factor_status, name="two_factor"),
    path(
        "accounts/deux-facteurs/verifier/",
        views_two_factor.two_factor_verify,
        name="two_factor_verify",
    ),
    path(
        "accounts/deux-facteurs/activer/",
        views_two_factor.two_factor_enrol,
        name="two_factor_enrol",
    ),
    path("accounts/deux-facteurs/qr.svg", views_two_factor.two_factor_qr, name="two_factor_qr"),
    path(
        "accounts/deux-facteurs/codes/",
        views_two_factor.two_factor_codes,
        name="two_factor_codes",
    ),
    path(
        "accounts/deux-facteurs/codes/regenerer/",
        views_two_factor.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
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
    # The load balancer's probe (pdp.health): no login, no personal data.
    path("sante/", health.health, name="health"),
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
