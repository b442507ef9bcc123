"""The administrators' retention page (`/protection-donnees/conservation/`): the last runs of
the job with their counts, the rules in force, the statistical rows left by the anonymised
people (totals by region and year). No person on it: nothing to write to the access log."""

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.db.models.functions import Coalesce, ExtractYear
from django.shortcuts import render

from pdp.permissions import is_admin
from privacy.models import AnonymousCase, RetentionRun
from privacy.retention import STEPS, rules

LAST_RUNS = 20


def retention_overview(request):
    if not is_admin(request.user):
        raise PermissionDenied(
            "La page de conservation des données est réservée aux administrateurs."
        )
    runs = list(RetentionRun.objects.order_by("-started_at", "-pk")[:LAST_RUNS])
    for run in runs:
        run.step_counts = [run.counts.get(key, 0) for key in STEPS]
    totals = list(
        AnonymousCase.objects.annotate(year=ExtractYear(Coalesce("opened_month", "referral_month")))
        .values("region__name", "year")
        .order_by("region__name", "-year")
        .annotate(
            cases=Count("pk", filter=Q(opened_month__isnull=False)),
            referrals=Count("pk", filter=Q(opened_month__isnull=True)),
        )
    )
    return render(
        request,
        "privacy/retention_overview.html",
        {"runs": runs, "steps": STEPS.values(), "rules": rules(), "totals": totals},
    )
