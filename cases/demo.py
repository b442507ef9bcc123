"""Generation of the demo people for `seed_demo`: arrêts, then the real detection job, then
referrals and cases spread over every status so every page has something to show."""

import datetime

from django.utils import timezone

from pdp.models import Role

SOCIAL_STATUS_CYCLE = [
    "a_contacter",
    "contact_en_cours",
    "accompagnement_ouvert",
    "rencontre_proposee",
    "accompagnement_ouvert",
    "nouveau",
    "refus",
    "accompagnement_ouvert",
    "sans_reponse",
    "hors_criteres",
    "doublon",
]
CASE_STATUS_CYCLE = ["ouvert", "ouvert", "suspendu", "ouvert", "cloture"]


def generate_people(rng, nirs, cpams, users, places, names):
    from referrals.models import ArretTravail, Assure, TypeArret

    last_names, first_names, employers = names
    today = timezone.localdate()
    people = []
    for i, nir in enumerate(nirs):
        sex = nir[0]
        first = rng.choice([n for s, n in first_names if s == sex])
        postal_code, commune, cpam_code = places[i % len(places)]
        siret, employer = employers[i % len(employers)]
        people.append(
            Assure(
                nir=nir,
                nom_naissance=rng.choice(last_names).upper(),
                prenoms=first,
                date_naissance=datetime.date(1900 + int(nir[1:3]), int(nir[3:5]), 1 + i % 28),
                sexe=sex,
                adresse=f"{1 + i % 80} rue de la République",
                code_postal=postal_code,
                commune=commune,
                telephone=f"06 {10 + i % 90:02d} {i % 100:02d} 30 40",
                cpam=cpams[cpam_code],
                situation_emploi=["cdi", "cdd", "interim", "apprenti", "cdi"][i % 5],
                employeur_nom=employer,
                employeur_siret=siret,
                poste=["Chauffeur", "Aide-soignante", "Agent d'entretien", "Comptable"][i % 4],
            )
        )
    for person in people:
        person.search_name = _search_name(person)
    Assure.objects.bulk_create(people)
    people = list(Assure.objects.filter(nir__in=nirs).order_by("nir"))

    arrets = []
    for i, person in enumerate(people):
        duration = 10 + (i * 131) % 391  # 10 to 400 days on today, spread evenly
        start = today - datetime.timedelta(days=duration - 1)
        expected_end = today + datetime.timedelta(days=rng.randint(5, 120))
        actual_end = None
        if i % 10 == 9:  # some have already returned to work
            actual_end = today - datetime.timedelta(days=rng.randint(1, min(duration - 1, 20)))
            expected_end = max(expected_end, actual_end)
        arrets.append(
            ArretTravail(
                assure=person,
                type_arret=[TypeArret.MALADIE, TypeArret.MALADIE, TypeArret.AT, TypeArret.MP][
                    i % 4
                ],
                date_debut=start,
                date_fin_prevue=expected_end,
                date_fin_reelle=actual_end,
                montant_ij=f"{30 + i % 40}.50",
                cpam=person.cpam,
            )
        )
    ArretTravail.objects.bulk_create(arrets)

    from referrals.detection import scan_arrets

    scan_arrets(day=today)
    _spread_referrals(rng, users, today)


def _search_name(person):
    from referrals.models import build_search_name

    return build_search_name(person.nom_naissance, person.nom_usage, person.prenoms)


def _spread_referrals(rng, users, today):
    from cases import services as case_services
    from cases.models import CaseEvent, Cloture, Entretien, EvaluationGlobale, Objectif
    from referrals.models import ContactAttempt, Signalement, SignalementEvent

    actor = users["responsable.rouen"]
    workers_by_unit = {}
    for user in users.values():
        if user.role == Role.ASS:
            workers_by_unit.setdefault(user.unit_id, []).append(user)

    social = list(
        Signalement.objects.filter(service="social").select_related("assure").order_by("pk")
    )
    for i, referral in enumerate(social):
        status = SOCIAL_STATUS_CYCLE[i % len(SOCIAL_STATUS_CYCLE)]
        workers = workers_by_unit.get(referral.unit_id, [])
        if referral.assigned_to_id is None and workers and i % 4 != 0:
            referral.assigned_to = workers[i % len(workers)]
        if status == "accompagnement_ouvert" and not referral.assigned_to_id and workers:
            referral.assigned_to = workers[0]
        if status == "accompagnement_ouvert" and not referral.assigned_to_id:
            status = "a_contacter"  # nobody to open a case in the regional queue
        if status != referral.statut:
            SignalementEvent.objects.create(
                signalement=referral,
                actor=actor,
                kind="status",
                old_value=referral.statut,
                new_value=status,
                reason="Données de démonstration",
            )
        referral.statut = status
        referral.save(update_fields=["statut", "assigned_to"])
        if status in ("contact_en_cours", "rencontre_proposee", "accompagnement_ouvert"):
            ContactAttempt.objects.create(
                signalement=referral,
                canal="telephone",
                resultat="pas_de_reponse" if status == "contact_en_cours" else "joint",
                user=referral.assigned_to or actor,
                at=timezone.now() - datetime.timedelta(days=3),
            )
        if status == "accompagnement_ouvert":
            case = case_services.case_open(
                assure=referral.assure,
                referent=referral.assigned_to,
                acting_user=referral.assigned_to,
                signalement=referral,
            )
            _fill_case(case, i, today, CaseEvent, Cloture, Entretien, EvaluationGlobale, Objectif)

    _conseiller_call_list(users, actor, today)

    medical = Signalement.objects.filter(service="medical").order_by("pk")
    for i, referral in enumerate(medical):
        if i % 3 == 1:
            referral.statut = "classe"
            referral.save(update_fields=["statut"])


CONSEILLER_OVERDUE = 4
CONSEILLER_UPCOMING = 8


def _conseiller_call_list(users, manager, today):
    """The Rouen manager gives a batch of open referrals (overdue ones and others) to the
    conseiller for the first contact; one of them was reached and handed over to an ASS with
    a proposed first meeting, so both pages show the hand-over. Through the real services."""
    from referrals import services
    from referrals.models import Signalement

    conseiller, ass = users["conseiller.rouen"], users["ass.rouen"]
    candidates = list(
        Signalement.objects.filter(
            service="social",
            unit_id=conseiller.unit_id,
            statut__in=["nouveau", "a_contacter", "contact_en_cours"],
        ).order_by("date_echeance", "pk")
    )
    overdue = [r for r in candidates if r.date_echeance and r.date_echeance < today]
    upcoming = [r for r in candidates if r not in overdue]
    step = max(1, len(overdue) // CONSEILLER_OVERDUE)  # spread over the due dates
    batch = overdue[::step][:CONSEILLER_OVERDUE] + upcoming[:CONSEILLER_UPCOMING]
    for referral in batch:
        services.signalement_assign(
            signalement=referral,
            acting_user=manager,
            unit=referral.unit,
            assigned_to=conseiller,
            reason="Premier contact par le conseiller (données de démonstration).",
        )
    reached = batch[-1] if batch else None
    if reached is None:
        return
    services.contact_attempt_add(
        signalement=reached,
        acting_user=conseiller,
        canal="telephone",
        resultat="joint",
        note="Personne d'accord pour rencontrer une assistante sociale.",
    )
    services.signalement_hand_over(
        signalement=reached,
        acting_user=conseiller,
        ass=ass,
        debut=timezone.make_aware(
            datetime.datetime.combine(today + datetime.timedelta(days=2), datetime.time(16, 30))
        ),
        mode="sur_place",
        duree_minutes=60,
    )


def _fill_case(case, i, today, CaseEvent, Cloture, Entretien, EvaluationGlobale, Objectif):
    referent = case.referent
    if i % 2 == 0:
        EvaluationGlobale.objects.create(
            accompagnement=case,
            version=1,
            contraintes_sante="Port de charges lourdes déconseillé ; station debout limitée.",
            emploi="CDI, relation correcte avec l'employeur.",
            droits="IJ en cours ; RQTH à demander.",
            ressources="Baisse de revenus depuis l'arrêt.",
            freins="Crainte du retour au poste.",
            niveau_risque=["faible", "modere", "eleve"][i % 3],
            created_by=referent,
        )
        CaseEvent.objects.create(
            accompagnement=case, actor=referent, kind="evaluation", summary="Évaluation globale v1"
        )
        Objectif.objects.create(
            accompagnement=case,
            domaine="emploi",
            libelle="Préparer la visite de pré-reprise avec le médecin du travail",
            echeance=today + datetime.timedelta(days=3),
        )
    start = timezone.make_aware(
        datetime.datetime.combine(today + datetime.timedelta(days=i % 5), datetime.time(9 + i % 7))
    )
    taken = Entretien.objects.filter(ass=referent, statut="planifie", debut=start).exists()
    if not taken:  # one ASS's planned meetings never overlap (database constraint)
        Entretien.objects.create(
            accompagnement=case, debut=start, ass=referent, mode=["sur_place", "telephone"][i % 2]
        )
    status = CASE_STATUS_CYCLE[i % len(CASE_STATUS_CYCLE)]
    if status == "suspendu":
        case.statut = "suspendu"
        case.save(update_fields=["statut"])
    elif status == "cloture":
        Cloture.objects.create(
            accompagnement=case,
            outcome="maintien_amenage",
            date_cloture=today,
            closed_by=referent,
            commentaire="Reprise sur poste aménagé.",
        )
        case.statut = "cloture"
        case.date_cloture = today
        case.save(update_fields=["statut", "date_cloture"])
        CaseEvent.objects.create(
            accompagnement=case, actor=referent, kind="closed", summary="Clôture"
        )
