"""The retention job (issue 14, item 2; domain §11): every night, in this order,

1. **last activity** of every person: the latest date of anything about them across the apps
   (the `activity` dates of `privacy.catalogue`), one query (a GREATEST of correlated MAX
   subqueries);
2. **warnings**: a person without activity for RETENTION_INACTIVITY_DAYS − RETENTION_WARNING_DAYS
   gets a `cases.RetentionNotice` (upserted in one statement; dropped when a new contact
   brings them back), shown on the dashboards of their référent and unit manager. It falls due
   RETENTION_INACTIVITY_DAYS after the last activity, and never less than RETENTION_WARNING_DAYS
   after the notice was first written: nobody is anonymised without having been announced;
3. **anonymisation** (wet run) of the people whose notice is due, unless one of their
   accompagnements is not closed (the notice then says so and stays: the référent closes the
   case or records a contact): in batches of RETENTION_BATCH people, each in one transaction,
   one `privacy.AnonymousCase` per accompagnement and per referral without one, then the rows
   the catalogue marks as the person's deleted (children first), the others blanked, and the
   documents' files removed from disk once committed;
4. **receipts**: the catalogue's ANONYMISE fields of the tables with `expires` blanked past
   their delay (messages after RETENTION_MESSAGE_DAYS), one UPDATE per table; then the
   messages older than RETENTION_MESSAGE_DELETE_DAYS removed (`Message.objects.purge_older_than`:
   whole months dropped as partitions on PostgreSQL, the foreign keys to them set to NULL
   first, the boundary month's rows deleted);
5. **access log**: rows older than RETENTION_AUDIT_DAYS removed
   (`AuditLog.objects.purge_older_than`: whole months dropped as partitions on PostgreSQL, the
   boundary month's rows deleted).

A dry run (the command without `--wet-run`) counts what steps 3–5 would do and changes none of
it; it still writes the notices (step 2), which only announce. Each run is a
`privacy.RetentionRun` with its counts; a PostgreSQL advisory lock makes a second run at the
same time return at once without doing anything.
"""

import contextlib
import datetime
import logging
from collections import defaultdict

from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models import F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from cases.models import Accompagnement, CaseStatus, Document, Entretien, RetentionNotice
from coordination.services import tranche_age
from pdp.audit import audit
from pdp.models import AuditLog, Message
from pdp.private_files import private_path
from privacy import catalogue
from privacy.models import AccessArchive, AnonymousCase, RetentionRun
from referrals.models import ArretTravail, Assure, Service, Signalement, Statut

logger = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key of the job (any constant, "PDPRETEN" in ASCII-ish).
LOCK_KEY = 0x50445052_4554454E & 0x7FFFFFFFFFFFFFFF

# The counts of a run, in the order the page and the command show them.
STEPS = {
    "warned": "personnes averties (anonymisation à venir)",
    "open_cases_kept": "personnes dues gardées (accompagnement non clôturé)",
    "people_anonymised": "personnes anonymisées",
    "anonymous_cases": "lignes statistiques créées",
    "documents_deleted": "documents supprimés du disque",
    "receipts_anonymised": "accusés de messages anonymisés",
    "receipts_deleted": "messages supprimés",
    "audit_purged": "lignes du journal d'accès supprimées",
    "errors": "erreurs",
}

NO_DATE = datetime.date(1900, 1, 1)


def rules():
    """The settings in force, for the page and the log."""
    return {
        "inactivity_days": settings.RETENTION_INACTIVITY_DAYS,
        "warning_days": settings.RETENTION_WARNING_DAYS,
        "message_days": settings.RETENTION_MESSAGE_DAYS,
        "message_delete_days": settings.RETENTION_MESSAGE_DELETE_DAYS,
        "audit_days": settings.RETENTION_AUDIT_DAYS,
        "batch": settings.RETENTION_BATCH,
        "recompute_months": settings.INDICATORS_RECOMPUTE_MONTHS,
    }


# --- 1. Last activity -----------------------------------------------------------------------


def _final_field(model, path):
    field = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
    return field


def _as_date(model, path):
    field = _final_field(model, path)
    expression = TruncDate(path) if isinstance(field, models.DateTimeField) else F(path)
    return Coalesce(expression, Value(NO_DATE), output_field=models.DateField())


def _latest(model, names):
    expressions = [_as_date(model, name) for name in names]
    return expressions[0] if len(expressions) == 1 else Greatest(*expressions)


def with_last_activity(queryset=None):
    """Assurés annotated with `last_activity`: the latest activity date of the catalogue's
    tables (a person's own dates, then one MAX subquery per table)."""
    queryset = queryset if queryset is not None else Assure.objects.all()
    parts = []
    for model, table in catalogue.person_tables():
        if not table.activity:
            continue
        if table.person == "pk":
            parts.append(_latest(model, table.activity))
            continue
        (path,) = table.person_paths
        sub = (
            model._base_manager.filter(**{path: OuterRef("pk")})
            .values(path)
            .annotate(latest=Max(_latest(model, table.activity)))
            .values("latest")
        )
        parts.append(Coalesce(Subquery(sub), Value(NO_DATE), output_field=models.DateField()))
    return queryset.annotate(last_activity=Greatest(*parts))


# --- 2. Warnings ----------------------------------------------------------------------------


def _has_open_case():
    return Accompagnement.objects.filter(assure=OuterRef("pk")).exclude(statut=CaseStatus.CLOTURE)


def refresh_notices(today):
    """Upsert the notices of the people within the warning window or past it, drop the others'
    (a new contact). Returns (people warned, not yet due; people due but kept: open case)."""
    inactivity = datetime.timedelta(days=settings.RETENTION_INACTIVITY_DAYS)
    warning = datetime.timedelta(days=settings.RETENTION_WARNING_DAYS)
    candidates = list(
        with_last_activity()
        .annotate(open_case=models.Exists(_has_open_case()))
        .filter(last_activity__lte=today - inactivity + warning)
        .values_list("pk", "last_activity", "open_case")
    )
    announced = dict(
        RetentionNotice.objects.filter(
            assure_id__in=[pk for pk, _last, _open in candidates]
        ).values_list("assure_id", "warned_on")
    )
    notices = []
    for pk, last_activity, open_case in candidates:
        warned_on = announced.get(pk, today)
        due_on = max(last_activity + inactivity, warned_on + warning)
        notices.append(
            RetentionNotice(
                assure_id=pk,
                last_activity=last_activity,
                warned_on=warned_on,
                due_on=due_on,
                open_case=open_case,
            )
        )
    RetentionNotice.objects.bulk_create(
        notices,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["assure"],
        update_fields=["last_activity", "due_on", "open_case", "updated_at"],
    )
    # A new contact took them out of the window: no notice any more.
    RetentionNotice.objects.exclude(assure_id__in=[n.assure_id for n in notices]).delete()
    warned = sum(1 for n in notices if n.due_on > today)
    kept = sum(1 for n in notices if n.due_on <= today and n.open_case)
    return warned, kept


def due_ids(today):
    """The people whose notice is due and who have no case open: the ones to anonymise."""
    return RetentionNotice.objects.filter(due_on__lte=today, open_case=False).values_list(
        "assure_id", flat=True
    )


# --- 3. Anonymisation -----------------------------------------------------------------------

DURATION_BANDS = (
    (90, "-3m", "moins de 3 mois"),
    (180, "3-6m", "3 à 6 mois"),
    (365, "6-12m", "6 à 12 mois"),
    (None, "12m+", "12 mois et plus"),
)
DURATION_LABELS = {code: label for _limit, code, label in DURATION_BANDS} | {
    "inconnue": "non renseignée"
}


def duration_band(arret):
    if arret is None:
        return "inconnue"
    end = arret["date_fin_reelle"] or arret["date_fin_prevue"]
    if end is None:
        return "inconnue"
    days = (end - arret["date_debut"]).days + 1
    for limit, code, _label in DURATION_BANDS:
        if limit is None or days < limit:
            return code
    return "inconnue"  # pragma: no cover


def _month(day):
    return day.replace(day=1) if day else None


def _latest_arret_before(day_expression):
    return (
        ArretTravail.objects.filter(assure=OuterRef("assure"), date_debut__lte=day_expression)
        .order_by("-date_debut", "-pk")
        .values("pk")[:1]
    )


def anonymous_rows(ids):
    """The AnonymousCase rows of these people: one per accompagnement, one per referral without
    one (a medical referral forwarded to the service social is counted by the social one).
    Five queries whatever the number of people."""
    from cases.models import Cloture, DispositifMobilise

    cases = list(
        Accompagnement.objects.filter(assure_id__in=ids)
        .annotate(
            arret_pk=Coalesce(
                F("signalement__arret_id"),
                Subquery(_latest_arret_before(OuterRef("date_ouverture"))),
            ),
            outcome=Subquery(
                Cloture.objects.filter(accompagnement=OuterRef("pk"))
                .order_by("-date_cloture", "-pk")
                .values("outcome")[:1]
            ),
            meetings=Coalesce(
                Subquery(
                    Entretien.objects.filter(
                        accompagnement=OuterRef("pk"), statut=Entretien.Statut.REALISE
                    )
                    .values("accompagnement")
                    .annotate(n=models.Count("pk"))
                    .values("n")
                ),
                0,
            ),
        )
        .values(
            "pk",
            "unit_id",
            "unit__region_id",
            "mission",
            "statut",
            "date_ouverture",
            "date_cloture",
            "signalement__date_signalement",
            "assure__date_naissance",
            "assure__sexe",
            "arret_pk",
            "outcome",
            "meetings",
        )
    )
    referrals = list(
        Signalement.objects.filter(assure_id__in=ids, accompagnement__isnull=True)
        .exclude(service=Service.MEDICAL, statut=Statut.TRANSMIS)
        .annotate(
            arret_pk=Coalesce(
                F("arret_id"), Subquery(_latest_arret_before(OuterRef("date_signalement")))
            )
        )
        .values(
            "region_id",
            "unit_id",
            "statut",
            "date_signalement",
            "assure__date_naissance",
            "assure__sexe",
            "arret_pk",
        )
    )
    arrets = {
        a["pk"]: a
        for a in ArretTravail.objects.filter(
            pk__in={r["arret_pk"] for r in cases + referrals if r["arret_pk"]}
        ).values("pk", "type_arret", "date_debut", "date_fin_prevue", "date_fin_reelle")
    }
    by_type = defaultdict(dict)
    for row in (
        DispositifMobilise.objects.filter(accompagnement__assure_id__in=ids)
        .values("accompagnement_id", "type__code")
        .annotate(n=models.Count("pk"))
    ):
        by_type[row["accompagnement_id"]][row["type__code"]] = row["n"]

    rows = []
    for case in cases:
        referral_day = case["signalement__date_signalement"]
        arret = arrets.get(case["arret_pk"])
        rows.append(
            AnonymousCase(
                region_id=case["unit__region_id"],
                unit_id=case["unit_id"],
                mission=case["mission"],
                referral_month=_month(referral_day),
                opened_month=_month(case["date_ouverture"]),
                closed_month=_month(case["date_cloture"]),
                outcome=case["outcome"] or "",
                dispositifs=sum(by_type[case["pk"]].values()),
                dispositifs_by_type=by_type[case["pk"]],
                meetings=case["meetings"],
                age_band=tranche_age(
                    case["assure__date_naissance"], referral_day or case["date_ouverture"]
                ),
                sexe=case["assure__sexe"] or "",
                type_arret=arret["type_arret"] if arret else "",
                duration_band=duration_band(arret),
            )
        )
    for referral in referrals:
        arret = arrets.get(referral["arret_pk"])
        rows.append(
            AnonymousCase(
                region_id=referral["region_id"],
                unit_id=referral["unit_id"],
                referral_month=_month(referral["date_signalement"]),
                outcome=referral["statut"],
                age_band=tranche_age(
                    referral["assure__date_naissance"], referral["date_signalement"]
                ),
                sexe=referral["assure__sexe"] or "",
                type_arret=arret["type_arret"] if arret else "",
                duration_band=duration_band(arret),
            )
        )
    return rows


def _of_people(table, ids):
    condition = Q()
    for path in table.person_paths:
        condition |= Q(**{f"{path}__in": ids})
    return condition


def _blank(model, table):
    """{field: neutral value} of the table's ANONYMISE fields."""
    return {
        name: catalogue.neutral(model._meta.get_field(name))
        for name in table.fields_with(catalogue.ANONYMISE)
    }


def _not_blank(values):
    """Rows with at least one of these fields not yet neutral (so a second run counts none)."""
    condition = Q()
    for name, value in values.items():
        condition |= Q(**{f"{name}__isnull": False}) if value is None else ~Q(**{name: value})
    return condition


def _delete_files(names, archive_paths=()):
    """After the commit: the files of the deleted documents and right-of-access archives. A
    failure is logged (the row is gone already; the file is an orphan for the operator to
    remove)."""
    storage = Document._meta.get_field("fichier").storage
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.exception("retention: document file %s not deleted", name)
    for relative in archive_paths:
        path = private_path(relative)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            logger.exception("retention: archive file %s not deleted", relative)
        with contextlib.suppress(OSError):  # not empty yet, or already gone
            path.parent.rmdir()


def anonymise_batch(ids, today, counts):
    """One transaction: the statistical rows, then the people's rows deleted (children first,
    the catalogue's order) or blanked; the files go once committed. Set-based throughout."""
    with transaction.atomic():
        ids = list(
            Assure.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                pk__in=ids,
                retention_notice__due_on__lte=today,
                retention_notice__open_case=False,
            )
            .exclude(models.Exists(_has_open_case()))
            .values_list("pk", flat=True)
        )
        if not ids:
            return
        created = AnonymousCase.objects.bulk_create(anonymous_rows(ids))
        files = list(
            Document.objects.filter(accompagnement__assure_id__in=ids)
            .exclude(fichier="")
            .values_list("fichier", flat=True)
        )
        archive_paths = [
            path
            for pair in AccessArchive.objects.filter(assure_id__in=ids).values_list(
                "pdf_path", "json_path"
            )
            for path in pair
            if path
        ]
        for model, table in catalogue.deletion_order():
            model._base_manager.filter(_of_people(table, ids)).delete()
        for model, table in catalogue.person_tables():
            if table.deleted_with_person:
                continue
            if model is AuditLog:  # append-only: its own way, which the trigger lets through
                AuditLog.objects.anonymise_people(ids)
                continue
            values = _blank(model, table)
            # The plain link column to the person goes too (Message.assure_id).
            values |= {path: None for path in table.person_paths if "__" not in path}
            model._base_manager.filter(_of_people(table, ids)).update(**values)
        counts["people_anonymised"] += len(ids)
        counts["anonymous_cases"] += len(created)
        counts["documents_deleted"] += len(files)
        transaction.on_commit(lambda: _delete_files(files, archive_paths))


# --- 4. Receipts, 5. access log ---------------------------------------------------------------


def expired_receipts(model, table, now):
    date_field, setting, extra = table.expires
    cutoff = now - datetime.timedelta(days=getattr(settings, setting))
    values = _blank(model, table)
    return (
        model._base_manager.filter(**{f"{date_field}__lt": cutoff}, **extra).filter(
            _not_blank(values)
        ),
        values,
    )


# --- The run ----------------------------------------------------------------------------


@contextlib.contextmanager
def _run_lock():
    """The job's lock, held for the whole run, which commits batch after batch. Taken as a
    transaction-level advisory lock on a second connection kept in one open transaction (no
    write, so no snapshot that would hold back vacuum): a session-level lock would be lost or
    leaked behind PgBouncer in transaction mode, where one connection's transactions may each
    run on a different server connection — an open transaction keeps its own."""
    if connection.vendor != "postgresql":
        yield True
        return
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
            acquired = cursor.fetchone()[0]
        yield acquired
    finally:
        try:
            holder.rollback()  # ends the transaction, and with it the lock, before returning
        finally:
            holder.close()


def retention_run(*, wet_run=False, scheduled=False, acting_user=None):
    """Run the job (see the module's docstring). Returns the RetentionRun, or None when another
    run holds the lock (nothing done)."""
    with _run_lock() as acquired:
        if not acquired:
            logger.warning("retention: another run is in progress, nothing done")
            return None
        now = timezone.now()
        today = timezone.localdate(now)
        run = RetentionRun.objects.create(dry_run=not wet_run, scheduled=scheduled)
        counts = dict.fromkeys(STEPS, 0)
        try:
            _steps(wet_run, today, now, counts)
        except Exception as exc:  # recorded on the run, then raised for the worker's log
            counts["errors"] += 1
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            _finish(run, counts, acting_user)
            raise
        _finish(run, counts, acting_user)
        return run


def _steps(wet_run, today, now, counts):
    with transaction.atomic():
        counts["warned"], counts["open_cases_kept"] = refresh_notices(today)
    due = list(due_ids(today))
    batch = settings.RETENTION_BATCH
    if wet_run:
        for start in range(0, len(due), batch):
            anonymise_batch(due[start : start + batch], today, counts)
    else:
        counts["people_anonymised"] = len(due)
        counts["anonymous_cases"] = len(anonymous_rows(due)) if due else 0
        counts["documents_deleted"] = Document.objects.filter(
            accompagnement__assure_id__in=due
        ).count()
    for model, table in catalogue.expiring_tables():
        queryset, values = expired_receipts(model, table, now)
        with transaction.atomic():
            counts["receipts_anonymised"] += (
                queryset.update(**values) if wet_run else queryset.count()
            )
    # Not in a transaction of its own (nor the access log's below): the purge drops each whole
    # month in a short transaction (a brief lock of the table), then deletes the boundary rows
    # in another. After the blanking above, which reaches the same rows first.
    cutoff = now - datetime.timedelta(days=settings.RETENTION_MESSAGE_DELETE_DAYS)
    counts["receipts_deleted"] = (
        Message.objects.purge_older_than(settings.RETENTION_MESSAGE_DELETE_DAYS)
        if wet_run
        else Message.objects.filter(created_at__lt=cutoff).count()
    )
    cutoff = now - datetime.timedelta(days=settings.RETENTION_AUDIT_DAYS)
    counts["audit_purged"] = (
        AuditLog.objects.purge_older_than(settings.RETENTION_AUDIT_DAYS)
        if wet_run
        else AuditLog.objects.filter(at__lt=cutoff).count()
    )


def _finish(run, counts, acting_user):
    run.counts = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["counts", "finished_at", "error"])
    audit(
        user=acting_user,
        action=AuditLog.Action.DELETE if not run.dry_run else AuditLog.Action.VIEW,
        obj=run,
        changes={"counts": counts, "dry_run": run.dry_run},
    )
    logger.info(
        "retention run %s (%s): %s",
        run.pk,
        "simulation" if run.dry_run else "réel",
        ", ".join(f"{key}={value}" for key, value in counts.items()),
    )


# --- The indicators' frozen months ------------------------------------------------------------


@checks.register()
def check_retention_after_frozen_months(app_configs=None, **kwargs):
    """Anonymised people must only have activity in months the snapshots no longer recompute,
    so that the indicators of those months keep counting them (README, « Indicators »)."""
    window = settings.INDICATORS_RECOMPUTE_MONTHS * 31 + settings.RETENTION_WARNING_DAYS
    if window < settings.RETENTION_INACTIVITY_DAYS:
        return []
    return [
        checks.Error(
            "RETENTION_INACTIVITY_DAYS doit dépasser INDICATORS_RECOMPUTE_MONTHS × 31 jours "
            f"+ RETENTION_WARNING_DAYS ({window} jours)\u00a0: sinon les indicateurs des mois "
            "encore recalculés perdraient les personnes anonymisées.",
            id="privacy.E001",
        )
    ]


@checks.register()
def check_messages_deleted_after_inactivity(app_configs=None, **kwargs):
    """A message is a contact with its person (the catalogue's `activity`): deleted sooner than
    RETENTION_INACTIVITY_DAYS, it would no longer hold back the person's anonymisation; and
    deleting it before its text is blanked would make the blanking pointless."""
    floor = max(settings.RETENTION_INACTIVITY_DAYS, settings.RETENTION_MESSAGE_DAYS)
    if floor <= settings.RETENTION_MESSAGE_DELETE_DAYS:
        return []
    return [
        checks.Error(
            "RETENTION_MESSAGE_DELETE_DAYS doit valoir au moins RETENTION_INACTIVITY_DAYS et "
            f"RETENTION_MESSAGE_DAYS ({floor} jours)\u00a0: sinon un message supprimé ne "
            "compterait plus dans la dernière activité de la personne.",
            id="privacy.E002",
        )
    ]
