"""Survey pages (issue 11, items 4 and 5).

Public: `/r/<code>/` moves a survey code into the session and redirects here (no birth date
is asked: the questionnaire shows nothing personal); `/enquete/` shows the questionnaire of
the invitation's kind, mobile first; answering spends the code (`surveys.survey_answer`) and
leads to « Merci ». A spent, expired or unknown code gets the one invalid-code page.

Staff: `/enquetes/resultats/` for the unit manager (their unit) and the regional manager
(the region and each unit; `/enquetes/resultats/unite/<pk>/` one unit), filtered by month
(from–to) and questionnaire. A figure is shown only when at least ten people answered.
Not visible (a unit of another region) → 404; visible but not allowed → 403.
"""

import datetime
import re

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from collective.models import ActionType
from collective.permissions import is_regional
from outreach import surveys
from outreach.models import QuestionType, SurveyKind
from outreach.views_public import _invalid, public
from pdp import access_codes
from pdp.forms import FrenchChoicesMixin
from pdp.models import AccessCode, Unit
from pdp.permissions import is_manager

TEXT_MAX = 1000
DONE = "outreach_survey_done"
RESULTS_ONLY = (
    "Les résultats des enquêtes sont réservés aux responsables d'unité et à l'encadrement régional."
)


# --- Public questionnaire --------------------------------------------------------------------


class SurveyForm(forms.Form):
    """The fields of a questionnaire version, from its questions (data)."""

    def __init__(self, questionnaire, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.questionnaire = questionnaire
        for question in questionnaire.questions:
            required = bool(question.get("required"))
            messages = {
                "required": "Choisissez une réponse.",
                "invalid_choice": "Choisissez une réponse de la liste.",
            }
            if question["type"] == QuestionType.TEXT:
                field = forms.CharField(
                    required=required,
                    max_length=TEXT_MAX,
                    widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}),
                    error_messages={
                        "required": "Écrivez une réponse.",
                        "max_length": f"{TEXT_MAX:,} caractères au plus.".replace(",", "\u00a0"),
                    },
                )
            else:
                choices = (
                    question["choices"]
                    if question["type"] == QuestionType.CHOICE
                    else [["oui", "Oui"], ["non", "Non"]]
                )
                field = forms.ChoiceField(
                    required=required,
                    choices=[tuple(choice) for choice in choices],
                    widget=forms.RadioSelect,
                    error_messages=messages,
                )
            field.label = question["label"]
            field.help_text = question.get("help", "")
            field.question_type = question["type"]
            self.fields[question["key"]] = field


def _survey_row(request):
    row = access_codes.row_from_session(request)
    if row is None or row.purpose != AccessCode.Purpose.SURVEY:
        return None, None, None
    invitation = surveys.invitation_for(row)
    questionnaire = surveys.active_questionnaire(invitation.kind) if invitation else None
    if questionnaire is None:
        return None, None, None
    return row, invitation, questionnaire


def _about(invitation):
    """What the questionnaire is about, in words that say nothing about health."""
    if invitation.kind == SurveyKind.FIN_ACTION:
        if surveys._what(invitation) == "webinaire":
            return (
                "le webinaire du service social de l'Assurance Maladie auquel vous avez participé"
            )
        return (
            "l'atelier collectif du service social de l'Assurance Maladie auquel vous avez "
            "participé"
        )
    if invitation.kind == SurveyKind.BAROMETRE:
        return "l'accompagnement du service social de l'Assurance Maladie"
    return ""


@public
@require_http_methods(["GET", "HEAD", "POST"])
def survey(request):
    row, invitation, questionnaire = _survey_row(request)
    if row is None:
        return _invalid()
    form = SurveyForm(questionnaire, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                surveys.survey_answer(
                    code_row=row, questionnaire=questionnaire, answers=form.cleaned_data
                )
            except ValidationError:
                access_codes.session_forget(request)
                return _invalid()
            access_codes.session_forget(request)
            request.session[DONE] = True
            return redirect("outreach:survey_thanks")
        status = 400
    return render(
        request,
        "outreach/survey_form.html",
        {"form": form, "questionnaire": questionnaire, "about": _about(invitation)},
        status=status,
    )


@public
@require_http_methods(["GET", "HEAD"])
def survey_thanks(request):
    if not request.session.pop(DONE, False):
        return _invalid()
    return render(request, "outreach/survey_thanks.html")


# --- Results for managers --------------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
GROUPS = [
    (SurveyKind.BAROMETRE, "Baromètre de satisfaction"),
    (SurveyKind.FIN_ACTION, "Fin d'action collective"),
    ("suivi", "Retour à l'emploi à 6 et 12 mois"),
]
MAX_MONTHS = 36


def _month(text):
    match = MONTH.match(text or "")
    if not match:
        raise ValidationError("Indiquez un mois sous la forme AAAA-MM, par exemple 2026-03.")
    year, month = int(match[1]), int(match[2])
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise ValidationError("Ce mois n'existe pas.")
    return datetime.date(year, month, 1)


class ResultsFilterForm(FrenchChoicesMixin, forms.Form):
    du = forms.CharField(
        label="Du mois",
        widget=forms.DateInput(attrs={"type": "month", "class": "form-control"}),
    )
    au = forms.CharField(
        label="au mois",
        widget=forms.DateInput(attrs={"type": "month", "class": "form-control"}),
    )
    questionnaire = forms.ChoiceField(
        label="Questionnaire",
        choices=GROUPS,
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def clean_du(self):
        return _month(self.cleaned_data["du"])

    def clean_au(self):
        return _month(self.cleaned_data["au"])

    def clean(self):
        data = super().clean()
        du, au = data.get("du"), data.get("au")
        if du and au:
            if du > au:
                raise ValidationError("Le mois de début doit précéder le mois de fin.")
            if (au.year - du.year) * 12 + au.month - du.month >= MAX_MONTHS:
                raise ValidationError(f"Choisissez une période de {MAX_MONTHS} mois au plus.")
        return data


def _defaults():
    this_month = timezone.localdate().replace(day=1)
    return {
        "du": f"{surveys.months_before(this_month, 11):%Y-%m}",
        "au": f"{this_month:%Y-%m}",
        "questionnaire": SurveyKind.BAROMETRE,
    }


def _scope(request, unit_pk):
    """(region_id, unit or None) the user may read. Not visible → 404, not allowed → 403."""
    user = request.user
    region_id = user.effective_region_id() if user.is_authenticated else None
    unit = None
    if unit_pk is not None:
        if unit_pk >= 2**63:  # beyond any key (PostgreSQL would refuse the number)
            raise Http404
        unit = get_object_or_404(Unit.objects.filter(region_id=region_id), pk=unit_pk)
    if is_manager(user):
        if unit is not None and unit.pk != user.unit_id:
            raise PermissionDenied("Vous ne voyez que les résultats de votre unité.")
        return region_id, unit or user.unit
    if is_regional(user, region_id) and not user.is_admin:
        return region_id, unit
    raise PermissionDenied(RESULTS_ONLY)


def _table(title, column, questionnaire, cells, total=None):
    return {
        "title": title,
        "column": column,
        "questionnaire": questionnaire,
        "cells": cells,
        "total": total,
    }


def _tables(kind, *, region_id, unit, du, au, units):
    """The tables of the page (`_table`)."""
    common = {"region_id": region_id, "month_from": du, "month_to": au}
    unit_id = unit.pk if unit else None
    if kind == SurveyKind.BAROMETRE:
        if unit is None:
            labels = [(u.pk, u.name) for u in units] + [(None, "Sans unité")]
            questionnaire, cells = surveys.tally(kind=kind, by="unit", labels=labels, **common)
            cells = [c for c in cells if c.key is not None or c.answers or c.invited]
            return [
                _table("Par unité", "Unité", questionnaire, cells, surveys.total(cells, "Région"))
            ]
        questionnaire, cells = surveys.tally(
            kind=kind, unit_id=unit_id, labels=[(None, unit.name)], **common
        )
        return [_table("", "Unité", questionnaire, cells)]
    if kind == SurveyKind.FIN_ACTION:
        labels = [(t.pk, t.label) for t in ActionType.objects.order_by("label")]
        questionnaire, cells = surveys.tally(
            kind=kind, unit_id=unit_id, by="action_type", labels=labels, **common
        )
        return [
            _table("Par type d'action", "Type d'action", questionnaire, cells, surveys.total(cells))
        ]
    tables = []
    for follow_up, months in surveys.FOLLOW_UP_MONTHS.items():
        questionnaire, cells = surveys.tally(
            kind=follow_up, unit_id=unit_id, by="categorie", labels=surveys.CATEGORIES, **common
        )
        tables.append(
            _table(
                f"{months} mois après la clôture",
                "Issue de l'accompagnement",
                questionnaire,
                cells,
                surveys.total(cells),
            )
        )
    return tables


def results(request, unit_pk=None):
    region_id, unit = _scope(request, unit_pk)
    data = request.GET if request.GET else _defaults()
    form = ResultsFilterForm(data)
    units = list(Unit.objects.filter(region_id=region_id).order_by("name"))
    tables, status = [], 200
    if form.is_valid():
        du, au = form.cleaned_data["du"], form.cleaned_data["au"]
        tables = _tables(
            form.cleaned_data["questionnaire"],
            region_id=region_id,
            unit=unit,
            du=du,
            au=au,
            units=units,
        )
    else:
        status = 400
    regional = not is_manager(request.user)
    return render(
        request,
        "outreach/survey_results.html",
        {
            "form": form,
            "unit": unit,
            "units": units if regional else [],
            "regional": regional,
            "tables": tables,
            "small_cell": surveys.SMALL_CELL,
            "query": request.GET.urlencode(),
        },
        status=status,
    )


urlpatterns = [
    path("enquete/", survey, name="survey"),
    path("enquete/merci/", survey_thanks, name="survey_thanks"),
    path("enquetes/resultats/", results, name="survey_results"),
    path("enquetes/resultats/unite/<int:unit_pk>/", results, name="survey_results_unit"),
]
