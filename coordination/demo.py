"""The cellule PDP's part of the demo, through the services (called by `seed_demo`).

One instance per territory with internal and partner members; for the Seine-Maritime/Eure
cellule a past meeting with validated minutes and actions (some done, one overdue) and an
upcoming meeting with three situations newly submitted — the consent of one of them revoked
afterwards, so it left the agenda — plus the follow-ups the past meeting left open.

Idempotent: instances and members are upserted; the meetings are generated once (a second run
finds them and stops). The services refuse a meeting in the past, so the past meeting is held
now and then moved back in time with its events, by plain UPDATEs (as `cases.demo` does
for the replayed months).
"""

import datetime

from django.utils import timezone

from cases import services as case_services
from cases.models import Accompagnement, CaseStatus, Consentement
from coordination import services
from coordination.decision_types import ensure_decision_types
from coordination.models import (
    ActionInstance,
    Instance,
    InstanceType,
    MembreInstance,
    Organisation,
    Reunion,
    ReunionEvent,
    Saisine,
    TypeDecision,
)
from pdp.models import Partner, PartnerContact, PartnerKind

# (partner name, partner kind, contact name, function, organisation in the instance, account)
CONTACTS = {
    "NORD": [
        (
            "SPST Rouen Métropole",
            PartnerKind.SPST,
            "Dr Anne Vasseur",
            "Médecin du travail",
            Organisation.SPST,
            None,
        ),
        (
            "Cap emploi Seine-Maritime",
            PartnerKind.CAP_EMPLOI,
            "Paul Lambert",
            "Chargé de maintien dans l'emploi",
            Organisation.CAP_EMPLOI,
            "partenaire",
        ),
        (
            "MDPH de Seine-Maritime",
            PartnerKind.MDPH,
            "Sarah Koné",
            "Référente insertion",
            Organisation.MDPH,
            None,
        ),
        (
            "CPAM de Rouen-Elbeuf-Dieppe",
            PartnerKind.CPAM,
            "Éric Dumont",
            "Service administratif PDP",
            Organisation.CPAM,
            None,
        ),
        (
            "CPAM de Rouen-Elbeuf-Dieppe",
            PartnerKind.CPAM,
            "Luc Girard",
            "Risques professionnels",
            Organisation.RISQUES_PRO,
            None,
        ),
    ],
    "CALVADOS": [
        (
            "SPST du Calvados",
            PartnerKind.SPST,
            "Dr Hugo Lebrun",
            "Médecin du travail",
            Organisation.SPST,
            None,
        ),
        (
            "Cap emploi Calvados",
            PartnerKind.CAP_EMPLOI,
            "Inès Morin",
            "Chargée de maintien dans l'emploi",
            Organisation.CAP_EMPLOI,
            None,
        ),
    ],
}
INSTANCES = {
    "NORD": (
        "Cellule PDP de Seine-Maritime et de l'Eure",
        InstanceType.CELLULE,
        ["ROUEN", "LEHAVRE"],
        [("responsable.rouen", Organisation.SERVICE_SOCIAL, "Responsable d'unité")],
    ),
    "CALVADOS": (
        "Instance de coordination PDP du Calvados",
        InstanceType.COORDINATION,
        ["CAEN"],
        [("responsable.caen", Organisation.SERVICE_SOCIAL, "Responsable d'unité")],
    ),
}

QUESTIONS = [
    "Quelles solutions d'aménagement du poste proposer à l'employeur avant la reprise ?",
    "Une reconversion est-elle envisageable compte tenu des restrictions d'aptitude ?",
    "Comment sécuriser une reprise à temps partiel thérapeutique dans une petite entreprise ?",
    "Quel accompagnement proposer après un avis d'inaptitude probable ?",
    "Faut-il engager une demande de RQTH et un essai encadré ?",
]


def seed_cellules(*, region, units, users, today=None):
    today = today or timezone.localdate()
    coordinateur = users["coordinateur"]
    ensure_decision_types(TypeDecision)
    instances = {}
    for key, (nom, kind, unit_codes, internal) in INSTANCES.items():
        instance, _ = Instance.objects.update_or_create(
            nom=nom,
            defaults={
                "region": region,
                "type": kind,
                "quorum_organisations": 3,
                "quorum_obligatoires": [Organisation.SERVICE_SOCIAL, Organisation.SERVICE_MEDICAL],
            },
        )
        instance.units.set([units[code] for code in unit_codes])
        instance.coordinateurs.set([coordinateur])
        since = today - datetime.timedelta(days=400)
        members = [
            *[(users[u], None, org, fonction) for u, org, fonction in internal],
            (users["medecin"], None, Organisation.SERVICE_MEDICAL, "Médecin conseil"),
        ]
        for partner_name, partner_kind, name, fonction, org, account in CONTACTS[key]:
            partner, _ = Partner.objects.get_or_create(
                name=partner_name, defaults={"kind": partner_kind, "region": region}
            )
            contact, _ = PartnerContact.objects.update_or_create(
                partner=partner,
                name=name,
                defaults={
                    "function": fonction,
                    "email": _email(name, partner_name),
                },
            )
            members.append((users[account] if account else None, contact, org, fonction))
        for user, contact, org, fonction in members:
            MembreInstance.objects.update_or_create(
                instance=instance,
                user=user,
                contact=contact,
                defaults={"organisation": org, "fonction": fonction, "date_debut": since},
            )
        instances[key] = instance
    if Reunion.objects.filter(instance__in=instances.values()).exists():
        return False
    _nord(instances["NORD"], coordinateur, today)
    _calvados(instances["CALVADOS"], coordinateur, today)
    return True


def _email(name, partner):
    local = name.lower().replace("dr ", "").replace(" ", ".")
    for accent, plain in (("é", "e"), ("è", "e"), ("ë", "e"), ("ï", "i"), ("ô", "o")):
        local = local.replace(accent, plain)
    domain = partner.lower().split()[0].replace("é", "e")
    return f"{local}@{domain}.example"


def _cases(unit_codes, count):
    return list(
        Accompagnement.objects.filter(unit__code__in=unit_codes, statut=CaseStatus.OUVERT)
        .exclude(assure__consentements__portee=Consentement.Portee.CELLULE_PDP)
        .select_related("assure", "referent", "unit", "signalement")
        .order_by("date_ouverture", "pk")[:count]
    )


def _submit(case, instance, question, today, *, urgence="normale"):
    case_services.consentement_record(
        accompagnement=case,
        acting_user=case.referent,
        portee=Consentement.Portee.CELLULE_PDP,
        date_recueil=max(case.date_ouverture, today - datetime.timedelta(days=60)),
    )
    fiche = services.fiche_initiale(case)
    fiche["urgence"] = urgence
    fiche["secteur_employeur"] = fiche["secteur_employeur"] or "Non renseigné"
    if not fiche["limitations"]:
        fiche["limitations"] = "Port de charges et station debout prolongée à éviter."
    return services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=case.referent,
        question=question,
        **fiche,
    )


def _moment(day, hour):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


def _member(instance, organisation):
    return instance.membres.filter(organisation=organisation).first()


def _nord(instance, coordinateur, today):
    cases = _cases(["ROUEN", "LEHAVRE"], 5)
    if len(cases) < 5:
        return
    past_day = today - datetime.timedelta(days=35)
    first, second = (
        _submit(c, instance, q, today) for c, q in zip(cases[:2], QUESTIONS[:2], strict=True)
    )
    past = services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + datetime.timedelta(hours=1),
        lieu="CARSAT Normandie, salle Seine, Rouen",
    )
    services.reunion_freeze_agenda(reunion=past, acting_user=coordinateur)
    for presence in past.presences.select_related("membre"):
        excused = presence.membre.organisation == Organisation.MDPH
        services.presence_set(
            presence=presence, acting_user=coordinateur, statut="excuse" if excused else "present"
        )
    decisions = {t.code: t for t in TypeDecision.objects.all()}
    cap_emploi = _member(instance, Organisation.CAP_EMPLOI)
    spst = _member(instance, Organisation.SPST)
    medical = _member(instance, Organisation.SERVICE_MEDICAL)
    point1, point2 = past.points.order_by("ordre")
    services.point_update(
        point=point1,
        acting_user=coordinateur,
        synthese=(
            "Poste de manutention incompatible avec les restrictions actuelles. L'employeur est"
            " ouvert à un aménagement ; Cap emploi connaît l'entreprise."
        ),
    )
    services.decision_add(
        point=point1,
        acting_user=coordinateur,
        type=decisions["etude_poste"],
        texte="Étude ergonomique du poste avec le SPST et Cap emploi.",
    )
    done = services.action_add(
        point=point1,
        acting_user=coordinateur,
        libelle="Prendre contact avec l'employeur pour l'étude de poste",
        responsable=cap_emploi,
        echeance=today - datetime.timedelta(days=20),
    )
    services.action_add(
        point=point1,
        acting_user=coordinateur,
        libelle="Réaliser l'étude de poste et transmettre les préconisations",
        responsable=spst,
        echeance=today - datetime.timedelta(days=7),
    )
    services.point_update(
        point=point2,
        acting_user=coordinateur,
        synthese="Reprise envisagée dans deux mois ; une visite de pré-reprise est nécessaire.",
    )
    services.decision_add(
        point=point2, acting_user=coordinateur, type=decisions["visite_pre_reprise"]
    )
    services.decision_add(
        point=point2,
        acting_user=coordinateur,
        type=decisions["mobilisation_dispositif"],
        texte="Temps partiel thérapeutique à étudier avec le médecin conseil.",
    )
    services.action_add(
        point=point2,
        acting_user=coordinateur,
        libelle="Donner l'avis du service médical sur un temps partiel thérapeutique",
        responsable=medical,
        echeance=today + datetime.timedelta(days=14),
    )
    services.reunion_mark_held(reunion=past, acting_user=coordinateur)
    services.reunion_submit_minutes(reunion=past, acting_user=coordinateur)
    services.reunion_validate_minutes(reunion=past, acting_user=coordinateur)
    services.action_set_status(
        action=done,
        acting_user=cap_emploi.user or coordinateur,
        statut=ActionInstance.Statut.FAITE,
        compte_rendu="Employeur rencontré le 12 ; étude de poste programmée.",
    )
    _move_back(past, [first, second], _moment(past_day, 14))

    upcoming = services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=_moment(today + datetime.timedelta(days=10), 14),
        lieu="CARSAT Normandie, salle Seine, Rouen",
        lien_visio="https://visio.example/cellule-pdp-76-27",
    )
    new = [
        _submit(c, instance, q, today, urgence=u)
        for c, q, u in zip(
            cases[2:5], QUESTIONS[2:5], ["prioritaire", "normale", "urgente"], strict=True
        )
    ]
    # The third person revoked the consent after being submitted: the situation left the agenda.
    revoked = new[2]
    case_services.consentement_revoke(
        consentement=revoked.consentement,
        accompagnement=revoked.accompagnement,
        acting_user=revoked.accompagnement.referent,
    )
    return upcoming


def _calvados(instance, coordinateur, today):
    cases = _cases(["CAEN"], 1)
    if cases:
        _submit(cases[0], instance, QUESTIONS[4], today)
    services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=_moment(today + datetime.timedelta(days=21), 10),
        lieu="CPAM du Calvados, Caen",
    )


def _move_back(reunion, saisines, debut):
    """The past meeting happened at `debut`: its date, the submissions before it, its events.
    The case timelines keep the moment the demo wrote them (they are in order of writing)."""
    Reunion.objects.filter(pk=reunion.pk).update(
        debut=debut, valide_le=debut + datetime.timedelta(days=6)
    )
    submitted = debut - datetime.timedelta(days=14)
    Saisine.objects.filter(pk__in=[s.pk for s in saisines]).update(submitted_at=submitted)
    ReunionEvent.objects.filter(reunion=reunion).update(at=debut)
    ActionInstance.objects.filter(point__reunion=reunion, closed_at__isnull=False).update(
        closed_at=debut + datetime.timedelta(days=15)
    )
