"""The dataset of the authorization matrix (tests/pdp/test_authorization_matrix.py).

Two regions: unit A (region 1, its territory « 76 ») holds everything the pages show; unit A2
(region 1 too) and unit B (region 2) hold only out-of-scope users. Every user of the matrix is built
here, each under the key the matrix's columns use (authorization_matrix.USERS).
"""

import datetime

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases import dispositifs, documents
from cases import services as case_services
from cases.models import Absence, Consentement, DispositifType, PlageOuverture
from collective import participants as collective_participants
from collective import services as collective_services
from coordination import services as cellule
from coordination.models import Organisation, Presence, TypeDecision
from outreach import campaigns
from outreach.models import Cible, RegleCanal
from pdp.models import CpamOffice
from privacy.models import AccessArchive
from referrals.models import CpamImport, Service, Statut
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    ArretFactory,
    AssureFactory,
    ConsentementFactory,
    CpamFactory,
    EntretienFactory,
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    RegionFactory,
    SeanceFactory,
    SignalementFactory,
    UnitFactory,
    UnitTerritoryFactory,
    UserFactory,
)

PERSON_NAME = "Quesnel-Tarrade"

FICHE = {
    "initiales": "J. D.",
    "tranche_age": "45-54",
    "sexe": "Femme",
    "situation_emploi": "CDI",
    "poste": "Aide-soignante",
    "secteur_employeur": "Santé",
    "taille_employeur": "ge",
    "arret": "Maladie, 150 jours (en cours)",
    "limitations": "Port de charges limité, station debout prolongée impossible.",
    "freins": "Crainte de perdre son poste.",
    "pistes": "",
    "dispositifs": "",
    "urgence": "normale",
}


def small_pdf():
    """A complete one-page PDF 1.4 (as tests/cases/test_documents.py builds it)."""
    import io

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _aware(days, hour):
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


def build():
    """(data, users): the objects by name, the users by matrix column (anonymous: None)."""
    today = timezone.localdate()
    region_1 = RegionFactory(code="NOR", name="CARSAT Normandie")
    region_2 = RegionFactory(code="IDF", name="CARSAT Île-de-France")
    cpam_1 = CpamFactory(region=region_1, code="761")
    CpamFactory(region=region_2, code="751", name="CPAM de Paris")
    unit_a = UnitFactory(region=region_1, name="Unité A")
    UnitTerritoryFactory(unit=unit_a, prefix="76")
    unit_a2 = UnitFactory(region=region_1, name="Unité A2")
    UnitTerritoryFactory(unit=unit_a2, prefix="27")
    unit_b = UnitFactory(region=region_2, name="Unité B")
    UnitTerritoryFactory(unit=unit_b, prefix="75")

    referent = UserFactory(ass=True, unit=unit_a)
    ass_other = UserFactory(ass=True, unit=unit_a)
    manager = UserFactory(manager=True, unit=unit_a)
    conseiller = UserFactory(conseiller=True, unit=unit_a)
    medecin = UserFactory(medecin=True, region=region_1)
    coordinateur = UserFactory(coordinateur=True)
    partenaire = UserFactory(partenaire=True)
    coordinateur_out = UserFactory(coordinateur=True)
    ass_out = UserFactory(ass=True, unit=unit_b)
    ass_shared = UserFactory(ass=True, unit=unit_b)
    users = {
        "ass_referent": referent,
        "ass_other": ass_other,
        "ass_shared": ass_shared,
        "conseiller": conseiller,
        "manager": manager,
        "regional": UserFactory(regional=True, region=region_1),
        "coordinateur": coordinateur,
        "partenaire": partenaire,
        "medecin": medecin,
        "admin": UserFactory(admin=True),
        "ass_region": UserFactory(ass=True, unit=unit_a2),
        "manager_region": UserFactory(manager=True, unit=unit_a2),
        "ass_out": ass_out,
        "manager_out": UserFactory(manager=True, unit=unit_b),
        "regional_out": UserFactory(regional=True, region=region_2),
        "coordinateur_out": coordinateur_out,
        "medecin_out": UserFactory(medecin=True, region=region_2),
        "anonymous": None,
    }

    # The person, their arrêt, their social referral (worked by the référent) and the medical
    # one (for the médecin conseil of region 1), their case.
    # A name no page text or user holds by chance: the matrix looks for it in the pages.
    assure = AssureFactory(
        cpam=cpam_1,
        code_postal="76000",
        telephone="0611223344",
        nom_naissance=PERSON_NAME,
        prenoms="Ombeline",
    )
    arret = ArretFactory(assure=assure)
    signalement = SignalementFactory(
        assure=assure, arret=arret, unit=unit_a, assigned_to=referent, statut=Statut.A_CONTACTER
    )
    signalement_medical = SignalementFactory(
        assure=assure, arret=arret, unit=None, service=Service.MEDICAL, statut=Statut.NOUVEAU
    )
    case = AccompagnementFactory(assure=assure, referent=referent)
    # The référent shares the case with an ASS of unit B (the person moved): she reads its
    # content, the other ASS of unit B does not see it.
    case_services.case_share(
        accompagnement=case,
        acting_user=referent,
        user=ass_shared,
        reason="absence",
        date_fin=today + datetime.timedelta(days=30),
    )
    share = case.shares.get()
    entretien = EntretienFactory(accompagnement=case)
    case_services.evaluation_create(
        accompagnement=case, acting_user=referent, niveau_risque="modere"
    )
    objectif = case_services.objectif_create(
        accompagnement=case, acting_user=referent, domaine="emploi", libelle="Reprendre le poste"
    )
    action_plan = case_services.action_create(
        objectif=objectif, acting_user=referent, libelle="Appeler le médecin du travail"
    )
    orientation = case_services.orientation_create(
        accompagnement=case,
        acting_user=referent,
        partner_kind="cap_emploi",
        motif="Aménagement du poste",
        accord_assure=True,
    )
    consent = ConsentementFactory(
        assure=assure,
        recorded_by=referent,
        portee=Consentement.Portee.CELLULE_PDP,
        date_recueil=today - datetime.timedelta(days=3),
    )
    document = documents.document_upload(
        accompagnement=case,
        acting_user=referent,
        uploaded_file=SimpleUploadedFile("bilan.pdf", small_pdf()),
        nom="Bilan",
    )
    dispositif = dispositifs.dispositif_create(
        accompagnement=case,
        acting_user=referent,
        type=DispositifType.objects.get(code="essai_encadre"),
        date_debut=today + datetime.timedelta(days=10),
        date_fin=today + datetime.timedelta(days=14),
        chez_employeur=True,
    )
    periode = dispositifs.dispositif_add_periode(
        dispositif=dispositif,
        acting_user=referent,
        date_debut=today + datetime.timedelta(days=20),
        date_fin=today + datetime.timedelta(days=21),
    )
    plage = PlageOuverture.objects.create(
        ass=referent,
        weekday=1,
        heure_debut=datetime.time(9, 0),
        heure_fin=datetime.time(12, 0),
        lieu="Agence de Rouen",
        modes=["sur_place"],
        premier_jour=today - datetime.timedelta(days=30),
    )
    absence = Absence.objects.create(
        ass=referent, debut=_aware(40, 9), fin=_aware(41, 18), motif="Congés"
    )
    cpam_import = CpamImport.objects.create(
        file_name="extrait.csv",
        cpam=CpamOffice.objects.get(code="761"),
        user=manager,
        status=CpamImport.Status.PROCESSED,
    )

    # The cellule PDP of unit A: its coordinator, the médecin and the partner as members, the
    # case submitted with consent, a meeting held whose agenda held it, with a decision and an
    # action, and a meeting planned.
    instance = InstanceFactory(region=region_1, units=[unit_a], coordinateurs=[coordinateur])
    InstanceFactory(region=region_2, units=[unit_b], coordinateurs=[coordinateur_out])
    MembreFactory(instance=instance, user=medecin, organisation=Organisation.SERVICE_MEDICAL)
    membre = MembreFactory(
        instance=instance,
        user=partenaire,
        contact=PartnerContactFactory(),
        organisation=Organisation.CAP_EMPLOI,
    )
    saisine = cellule.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=referent,
        question="Quelle suite ?",
        **FICHE,
    )
    reunion = cellule.reunion_plan(
        instance=instance, acting_user=coordinateur, debut=_aware(1, 14), lieu="Salle 1"
    )
    cellule.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    for presence in reunion.presences.all():
        cellule.presence_set(
            presence=presence, acting_user=coordinateur, statut=Presence.Statut.PRESENT
        )
    point = reunion.points.get()
    decision = cellule.decision_add(
        point=point, acting_user=coordinateur, type=TypeDecision.objects.get(code="etude_poste")
    )
    action_cellule = cellule.action_add(
        point=point,
        acting_user=coordinateur,
        libelle="Étude de poste",
        responsable=membre,
        echeance=today + datetime.timedelta(days=20),
    )
    cellule.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    reunion_planned = cellule.reunion_plan(
        instance=instance, acting_user=coordinateur, debut=_aware(30, 14), lieu="Salle 2"
    )

    # A collective action of unit A led by the référent, with a session, a validation asked of
    # the manager and the person of the case as participant.
    action = ActionCollectiveFactory(animateur=referent)
    seance, *_ = [SeanceFactory(action=action) for _ in range(3)]
    validation = collective_services.validation_request(
        action=action, acting_user=referent, niveau="unite"
    )
    participant = collective_participants.participant_add_from_case(
        action=action, accompagnement=case, accord=True, acting_user=referent
    )

    # A campaign of unit A, a channel rule of region 1 and a target of the campaign.
    campagne = campaigns.campagne_create(
        acting_user=manager, nom="Campagne de printemps", date_reference=today
    )
    regle = RegleCanal.objects.create(region=region_1, ordre=10, libelle="Tous", canal="appel")
    # The person as one of its targets, on the call list (written as the simulation does).
    cible = Cible.objects.create(
        campagne=campagne,
        assure=assure,
        arret=arret,
        canal="appel",
        regle=regle,
        created_at=timezone.now(),
    )

    # A right-of-access archive of the person, past its expiry: its downloads answer 410 to the
    # manager who may fetch it (no file needed to check who gets that far).
    archive = AccessArchive.objects.create(
        assure=assure,
        requested_by=manager,
        status=AccessArchive.Status.READY,
        ready_at=timezone.now() - datetime.timedelta(days=10),
        expires_at=timezone.now() - datetime.timedelta(days=3),
        json_path="archives/inexistante/dossier.json",
    )

    data = {
        "unit": unit_a,
        "archive": archive,
        "assure": assure,
        "arret": arret,
        "signalement": signalement,
        "signalement_medical": signalement_medical,
        "case": case,
        "share": share,
        "entretien": entretien,
        "objectif": objectif,
        "action_plan": action_plan,
        "orientation": orientation,
        "consentement": consent,
        "document": document,
        "dispositif": dispositif,
        "periode": periode,
        "plage": plage,
        "absence": absence,
        "import": cpam_import,
        "instance": instance,
        "membre": membre,
        "saisine": saisine,
        "reunion": reunion,
        "reunion_planned": reunion_planned,
        "presence": reunion_planned.presences.first(),
        "point": point,
        "decision": decision,
        "action_cellule": action_cellule,
        "action": action,
        "seance": seance,
        "validation": validation,
        "participant": participant,
        "campagne": campagne,
        "regle": regle,
        "cible": cible,
    }
    return data, users
