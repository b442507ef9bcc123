"""Campaign letters (issue 12, items 4 and 9): one PDF of every letter of a batch, and a CSV for
an external mail house.

The manager of a running campaign asks for a batch (`lot_create`): a `LotCourrier` numbered
after the campaign's others, « en préparation », and on commit the Celery task
`outreach.tasks.build_letter_batch(lot_id)` — the id only: the clear codes never travel
through the broker. The task calls `lot_build`, which in ONE transaction

1. locks the lot (``SELECT … FOR UPDATE SKIP LOCKED`` on a lot still « en préparation »: a
   retry, or a second worker, finds nothing to do);
2. claims the letters waiting — targets with the channel courrier, not excluded, expired,
   refused nor answered, not sent yet — by ``UPDATE … SET envoye_le, lot WHERE … AND
   envoye_le IS NULL``: two batches never share a target;
3. issues their booking codes in bulk (`pdp.access_codes.access_codes_issue_many`, bound to the
   target, valid until the end of the day ``validite_courrier_jours`` after now) and links them
   to the targets in one UPDATE;
4. renders one PDF of all the letters (WeasyPrint through `pdp.pdf`, the QR codes as inline
   SVG) and the CSV, written under ``PRIVATE_MEDIA_ROOT/lots/<campagne>/`` with a random part
   in their names;
5. marks the lot « prêt » with its count, a `CampagneEvent` « letters » and one audit row per
   person (bulk).

The number of statements does not depend on the number of letters. On any failure the
transaction rolls back (nothing claimed, no code issued, files removed) and the lot is marked
« échec » with a French message, in a transaction of its own; the letters stay waiting for
the next batch. The clear codes exist only in the task's memory and in the two files.
"""

import base64
import csv
import datetime
import io
import logging
import secrets
from pathlib import Path

import segno
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from outreach.campaign_answers import CIBLE
from outreach.campaigns import can_manage, invitation_end, open_targets
from outreach.links import code_form_url
from outreach.models import Campagne, CampagneEvent, CanalCampagne, Cible, LotCourrier
from pdp.access_codes import access_codes_issue_many, code_url, display
from pdp.audit import audit, audit_many
from pdp.exports import safe_cell
from pdp.models import AccessCode, AuditLog, UnitTerritory
from pdp.pdf import PdfUnavailable, render_pdf
from pdp.permissions import FORBIDDEN_MESSAGE
from pdp.private_files import private_path
from referrals.models import Sexe

logger = logging.getLogger(__name__)

LETTER_TEMPLATE = "outreach/letters/campaign_letter.html"
# A lot « en préparation » for longer than this is taken as lost (its worker died; the task's
# hard time limit is shorter): the manager may ask for another one.
STALE_AFTER = datetime.timedelta(minutes=30)
FAILED = "La préparation du lot a échoué (erreur technique)\u00a0: demandez un nouveau lot."
EMPTY = "Aucun courrier en attente\u00a0: un autre lot les a déjà pris."
CSV_HEADER = [
    "lot",
    "n° de pli",
    "civilité",
    "nom",
    "prénoms",
    "adresse",
    "code postal",
    "commune",
    "code",
    "adresse du lien",
    "valable jusqu'au",
    "téléphone de l'unité",
]
CIVILITE = {Sexe.HOMME: "Monsieur", Sexe.FEMME: "Madame"}


# --- What is waiting ---------------------------------------------------------------------------


def letters_waiting(campagne):
    """The targets of `campagne` whose letter is still to be sent."""
    return open_targets().filter(
        campagne=campagne,
        canal=CanalCampagne.COURRIER,
        envoye_le__isnull=True,
        refus_le__isnull=True,
    )


# --- Asking for a batch ------------------------------------------------------------------------


@transaction.atomic
def lot_create(*, campagne, acting_user, now=None):
    """A new batch of the letters waiting for a running campaign, built by a Celery task on
    commit. Refused (French ValidationError) when the campaign is not running, nothing is
    waiting or another batch is being prepared."""
    if not can_manage(acting_user, campagne):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    now = now or timezone.now()
    campagne = Campagne.objects.select_for_update().get(pk=campagne.pk)
    if campagne.statut != Campagne.Statut.EN_COURS:
        raise ValidationError("Les courriers se préparent pour une campagne en cours.")
    lots = LotCourrier.objects.filter(campagne=campagne)
    if lots.filter(
        statut=LotCourrier.Statut.PREPARATION, created_at__gt=now - STALE_AFTER
    ).exists():
        raise ValidationError("Un lot est déjà en préparation\u00a0: attendez qu'il soit prêt.")
    if not letters_waiting(campagne).exists():
        raise ValidationError("Aucun courrier en attente pour cette campagne.")
    numero = (lots.aggregate(m=Max("numero"))["m"] or 0) + 1
    lot = LotCourrier.objects.create(campagne=campagne, numero=numero, created_by=acting_user)
    audit(
        user=acting_user,
        action=AuditLog.Action.CREATE,
        obj=lot,
        changes={"numero": [None, numero], "statut": [None, lot.statut]},
    )
    from outreach.tasks import build_letter_batch

    transaction.on_commit(lambda: build_letter_batch.delay(lot.pk))
    return lot


# --- Building it (the task) --------------------------------------------------------------------


def lot_build(*, lot_id, now=None):
    """Build the batch `lot_id` (see the module's docstring). Returns the lot, or None when
    there was nothing to do (already built, failed, or being built by another worker)."""
    written = []
    try:
        with transaction.atomic():
            return _build(lot_id, now or timezone.now(), written)
    except Exception as exc:
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(exc, PdfUnavailable | _Empty):
            message = str(exc)
        else:
            logger.exception("letter batch %s failed", lot_id)
            message = FAILED
        _fail(lot_id, message)
        return None


class _Empty(Exception):
    """Nothing was waiting any more when the batch was built."""


@transaction.atomic
def _fail(lot_id, message):
    lot = (
        LotCourrier.objects.select_for_update()
        .filter(pk=lot_id, statut=LotCourrier.Statut.PREPARATION)
        .first()
    )
    if lot is None:
        return
    lot.statut = LotCourrier.Statut.ECHEC
    lot.erreur = message[:255]
    lot.save(update_fields=["statut", "erreur"])
    CampagneEvent.objects.create(
        campagne_id=lot.campagne_id,
        actor=None,
        kind=CampagneEvent.Kind.LETTERS,
        data={"lot": lot.numero, "statut": lot.statut, "erreur": lot.erreur},
    )


def _build(lot_id, now, written):
    lot = (
        LotCourrier.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("campagne__unit", "campagne__region")
        .filter(pk=lot_id, statut=LotCourrier.Statut.PREPARATION)
        .first()
    )
    if lot is None:
        return None
    campagne = lot.campagne
    claimed = letters_waiting(campagne).update(envoye_le=now, lot=lot)
    if not claimed:
        raise _Empty(EMPTY)
    targets = list(
        Cible.objects.filter(lot=lot)
        .select_related("assure")
        .order_by("assure__code_postal", "assure__nom_naissance", "pk")
    )
    last_day, expires_at = invitation_end(campagne.validite_courrier_jours, now)
    issued = access_codes_issue_many(
        purpose=AccessCode.Purpose.BOOKING,
        items=[
            {
                "assure_id": t.assure_id,
                "expires_at": expires_at,
                "object_type": CIBLE,
                "object_id": t.pk,
            }
            for t in targets
        ],
        acting_user=lot.created_by,
    )
    for target, (row, _code) in zip(targets, issued, strict=True):
        target.code = row
    Cible.objects.bulk_update(targets, ["code"], batch_size=None)
    units = units_for(campagne, targets)
    letters = [
        _letter(campagne, target, code, pli, units)
        for pli, (target, (_row, code)) in enumerate(zip(targets, issued, strict=True), start=1)
    ]
    pdf = render_letters(lot=lot, letters=letters, valid_until=last_day, today=now)
    content = _csv(lot, letters, last_day)
    folder = Path("lots") / str(campagne.pk)
    stem = f"{lot.numero}-{secrets.token_hex(8)}"
    lot.pdf = _write(folder / f"{stem}.pdf", pdf, written)
    lot.csv = _write(folder / f"{stem}.csv", content, written)
    lot.statut = LotCourrier.Statut.PRET
    lot.nombre = len(targets)
    lot.pret_le = now
    lot.erreur = ""
    lot.save(update_fields=["pdf", "csv", "statut", "nombre", "pret_le", "erreur"])
    CampagneEvent.objects.create(
        campagne=campagne,
        actor=lot.created_by,
        kind=CampagneEvent.Kind.LETTERS,
        data={"lot": lot.numero, "statut": lot.statut, "nombre": lot.nombre},
    )
    user = lot.created_by
    audit_many(
        user=user,
        action=AuditLog.Action.UPDATE,
        model=Cible,
        entries=(
            (
                t.pk,
                t.assure_id,
                {"envoye_le": [None, now], "lot": [None, lot.numero], "code": [None, t.code_id]},
            )
            for t in targets
        ),
    )
    return lot


def _write(relative, content, written):
    path = private_path(str(relative))
    path.parent.mkdir(parents=True, exist_ok=True)
    written.append(path)
    path.write_bytes(content)
    return str(relative)


# --- The sender of each letter -----------------------------------------------------------------


def _route(postal_code, territories):
    """The unit of `postal_code` among `territories` {prefix: unit}: the longest prefix, Corsica
    2A / 2B as `referrals.routing.route_unit` (which costs one query per code)."""
    prefixes = [postal_code[:n] for n in range(len(postal_code), 1, -1)]
    if postal_code[:2] == "20":
        prefixes.insert(-1, "2A" if postal_code[:3] in ("200", "201") else "2B")
    for prefix in prefixes:
        if prefix in territories:
            return territories[prefix]
    return None


def units_for(campagne, targets):
    """{target pk: unit}: the campaign's unit, or for a region-wide campaign the unit of the
    region whose territory holds the person's postal code (one query)."""
    if campagne.unit_id is not None:
        return dict.fromkeys((t.pk for t in targets), campagne.unit)
    territories = {
        t.prefix: t.unit
        for t in UnitTerritory.objects.filter(unit__region_id=campagne.region_id).select_related(
            "unit"
        )
    }
    return {t.pk: _route(t.assure.code_postal.strip(), territories) for t in targets}


# --- The letter and the CSV --------------------------------------------------------------------


def qr_image(url):
    """The QR code of `url` as a PNG data: URI, one module a few pixels (drawn without
    smoothing). Not SVG: WeasyPrint parses and paints an SVG path in Python, about 80 ms per
    code — the largest cost per letter of a batch — while a small PNG is one image."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=4, border=0)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _address_lines(assure):
    return [line.strip() for line in assure.adresse.splitlines() if line.strip()]


def _letter(campagne, target, code, pli, units):
    assure = target.assure
    civilite = CIVILITE.get(assure.sexe, "")
    name = f"{assure.prenoms} {assure.nom_affiche.upper()}"
    unit = units[target.pk]
    return {
        "pli": pli,
        "assure": assure,
        "civilite": civilite,
        "salutation": civilite or "Madame, Monsieur",
        "recipient_lines": [
            f"{civilite} {name}".strip(),
            *_address_lines(assure),
            f"{assure.code_postal} {assure.commune}",
        ],
        "sender": unit.name if unit else f"Région {campagne.region.name}",
        "phone": unit.telephone if unit else "",
        "code": display(code),
        "url": code_url(code),
        "qr": qr_image(code_url(code)),
    }


# Letters per WeasyPrint document: its layout of a whole batch in memory grows with the batch
# (about 0.6 MB a letter); rendered by parts and joined with pypdf, the peak stays that of one
# part whatever the batch's size.
RENDER_PART = 200


def render_letters(*, lot, letters, valid_until, today):
    """The PDF (bytes) of the letters; raises `pdp.pdf.PdfUnavailable` without WeasyPrint."""
    parts = [
        render_pdf(
            LETTER_TEMPLATE,
            {
                "lot": lot,
                "letters": letters[start : start + RENDER_PART],
                "valid_until": valid_until,
                "today": timezone.localdate(today),
                "code_form_url": code_form_url(),
            },
        )
        for start in range(0, max(len(letters), 1), RENDER_PART)
    ]
    if len(parts) == 1:
        return parts[0]
    from pypdf import PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    writer.add_metadata({"/Title": f"Courriers – lot {lot.numero}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _csv(lot, letters, last_day):
    """UTF-8 with a BOM, « ; » between fields: what French Excel opens as is."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for letter in letters:
        assure = letter["assure"]
        writer.writerow(
            safe_cell(str(v))
            for v in [
                lot.numero,
                letter["pli"],
                letter["civilite"],
                assure.nom_affiche.upper(),
                assure.prenoms,
                ", ".join(_address_lines(assure)),
                assure.code_postal,
                assure.commune,
                letter["code"],
                letter["url"],
                last_day.strftime("%d/%m/%Y"),
                letter["phone"],
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- The campaign page -------------------------------------------------------------------------


def detail_context(*, campagne, user, now=None):
    """What the campaign page shows of this part: a dict merged into its context (two queries
    for a running or closed campaign, none otherwise)."""
    if campagne.statut not in (Campagne.Statut.EN_COURS, Campagne.Statut.CLOSE):
        return {"courriers": None}
    lots = list(LotCourrier.objects.filter(campagne=campagne).order_by("-numero"))
    return {
        "courriers": {
            "lots": lots,
            "waiting": letters_waiting(campagne).count(),
            "can_prepare": campagne.statut == Campagne.Statut.EN_COURS
            and can_manage(user, campagne),
            "can_download": can_manage(user, campagne),
            "preparing": any(lot.statut == LotCourrier.Statut.PREPARATION for lot in lots),
        }
    }
