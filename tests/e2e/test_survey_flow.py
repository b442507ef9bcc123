"""A person answers the barometer from the SMS link on a phone: the questionnaire, a missing
answer said in French, « Merci »; axe-clean at 360 and 1366 pixels; the code is then spent.
The unit manager reads the results."""

import datetime
import re

from django.utils import timezone
from playwright.sync_api import expect

from cases.models import CaseStatus, Cloture, Outcome
from outreach import surveys
from outreach.models import SurveyAnswer, SurveyInvitation
from pdp import access_codes
from pdp.models import AccessCode
from tests.e2e.conftest import check_a11y, login, screenshot
from tests.factories import AccompagnementFactory, AssureFactory, UnitFactory, UserFactory
from tests.outreach.test_surveys import seed_questionnaires

PHONE = {"width": 360, "height": 740}


def _closed_case():
    seed_questionnaires()
    unit = UnitFactory(name="Unité de Rouen")
    ass = UserFactory(ass=True, unit=unit)
    day = datetime.date.today() - datetime.timedelta(days=7)
    case = AccompagnementFactory(
        assure=AssureFactory(telephone="06 12 34 56 78"),
        referent=ass,
        unit=unit,
        statut=CaseStatus.CLOTURE,
        date_ouverture=day - datetime.timedelta(days=90),
        date_cloture=day,
    )
    Cloture.objects.create(
        accompagnement=case, outcome=Outcome.MAINTIEN_MEME_POSTE, date_cloture=day, closed_by=ass
    )
    return unit


def test_a_person_answers_the_barometer_on_a_phone(browser, live_server):
    unit = _closed_case()
    assert surveys.surveys_send()["sent"] == 1
    # The clear code exists only in the message handed to the sender: issue the test's own.
    invitation = SurveyInvitation.objects.get()
    _row, code = access_codes.access_code_issue(
        purpose=AccessCode.Purpose.SURVEY,
        assure_id=invitation.assure_id,
        expires_at=timezone.now() + datetime.timedelta(days=30),
        object_type=surveys.INVITATION_LABEL,
        object_id=invitation.pk,
    )
    path = f"/r/{code}/"
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(live_server.url + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Votre avis sur le service social de l'Assurance Maladie"
        )
        check_a11y(page, "questionnaire, 360 px")
        screenshot(page, "survey_form_360")
        page.get_by_label("Plutôt satisfait·e").first.check()
        page.get_by_role("button", name="Envoyer mes réponses").click()
        expect(page.get_by_text("Choisissez une réponse.").first).to_be_visible()
        check_a11y(page, "questionnaire avec erreurs, 360 px")
        page.get_by_role("group", name=re.compile("Feriez-vous")).get_by_label("Oui").check()
        page.get_by_role("group", name=re.compile("délai")).get_by_label("Très satisfait·e").check()
        page.get_by_label(re.compile("commentaire")).fill("Très bonne écoute.")
        page.set_viewport_size({"width": 1366, "height": 768})
        check_a11y(page, "questionnaire, 1366 px")
        page.set_viewport_size(PHONE)
        page.get_by_role("button", name="Envoyer mes réponses").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Merci pour vos réponses")
        check_a11y(page, "merci, 360 px")
        screenshot(page, "survey_thanks_360")
        answer = SurveyAnswer.objects.get()
        assert answer.answers["nouvel_appel"] == "oui" and answer.unit == unit
        page.goto(live_server.url + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Ce lien ou ce code ne fonctionne pas"
        )
    finally:
        context.close()


def test_the_manager_reads_the_results(page, live_server):
    unit = _closed_case()
    manager = UserFactory(manager=True, unit=unit, username="resp")
    login(page, live_server, "resp", "motdepasse-test")
    page.get_by_role("link", name="Enquêtes").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Résultats des enquêtes")
    expect(page.get_by_text("moins de 10 réponses : non affiché").first).to_be_visible()
    check_a11y(page, "résultats des enquêtes")
    assert manager.unit == unit
