"""Step 3 of the import: the rules of a row, each written once.

:class:`RowRules` turns the fields of a record into an :class:`ExtractRow` or the list of
its problems (French, every problem of the row at once). Identifiers are checked by
``pdp.identifiers``, e-mails by Django's ``EmailValidator``, the search name is
``referrals.models.build_search_name``: the import has no copy of those rules. What
repeats from line to line (dates, amounts, SIRETs, e-mail domains) is cached for the
length of one import.

Rules chosen here (the issue leaves them open):

* Mandatory fields: nir, nom, prenom, type_arret, date_debut_arret, date_fin_prevue and
  code_caisse (or the expected caisse). ``date_naissance``, ``sexe``, contact fields,
  employer, ``date_fin_reelle`` and ``montant_ij`` may be empty; when present they are
  validated (the NIR must agree with the sex and the birth date). An empty ``sexe`` is taken
  from the NIR.
* ``sexe`` accepts 1/2, M/H/F, homme/femme; a 4-digit ``code_postal`` gets back the leading
  zero spreadsheets drop; ``montant_ij`` accepts a decimal comma, spaces and a final €.
* A name (nom, prénom) starting like a spreadsheet formula (= + - @) is rejected.
* A field holding line breaks (a multi-line address) is kept on one line, its lines
  separated by « , ».
* The start of an arrêt may not be in the future, nor before the birth date given on the
  line, nor more than ``ARRET_MAX_AGE_YEARS`` years before the extract date.
* The extract date (:func:`extract_date_problem`) may not be in the future nor more than
  ``EXTRACT_MAX_AGE_YEARS`` year(s) old.
"""

from __future__ import annotations

import datetime
import functools
import operator
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from pdp.exports import FORMULA_PREFIXES
from pdp.identifiers import NIR_MEN, IdentifierError, nir_check, siret_normalize
from referrals.importer.header import COLUMNS
from referrals.models import Assure, TypeArret

RAW_LINE_MAX_CHARS = 2000  # what is kept of a rejected line
ARRET_MAX_AGE_YEARS = 10  # an older start is taken for a typing error
EXTRACT_MAX_AGE_YEARS = 1

# Maximum lengths of the text columns (the model's max_length).
_MAX_LENGTHS = {
    "nom": Assure._meta.get_field("nom_naissance").max_length,
    "prenom": Assure._meta.get_field("prenoms").max_length,
    "adresse": Assure._meta.get_field("adresse").max_length,
    "commune": Assure._meta.get_field("commune").max_length,
    "telephone": Assure._meta.get_field("telephone").max_length,
    "email": Assure._meta.get_field("email").max_length,
    "employeur_nom": Assure._meta.get_field("employeur_nom").max_length,
}
_MAX_NOM = _MAX_LENGTHS["nom"]
_MAX_PRENOM = _MAX_LENGTHS["prenom"]
_MAX_ADRESSE = _MAX_LENGTHS["adresse"]
_MAX_COMMUNE = _MAX_LENGTHS["commune"]
_MAX_TELEPHONE = _MAX_LENGTHS["telephone"]
_MAX_EMAIL = _MAX_LENGTHS["email"]
_MAX_EMPLOYEUR = _MAX_LENGTHS["employeur_nom"]
_TYPES = frozenset(TypeArret.values)
_SEXES = {"1": "1", "M": "1", "H": "1", "HOMME": "1", "2": "2", "F": "2", "FEMME": "2"}
_IJ_MAX = Decimal("999999.99")
_CENT = Decimal("0.01")
_FORMULA = (
    "ne peut pas commencer par \u00ab\u00a0=\u00a0\u00bb, \u00ab\u00a0+\u00a0\u00bb, "
    "\u00ab\u00a0-\u00a0\u00bb ou \u00ab\u00a0@\u00a0\u00bb (formule de tableur)."
)


@dataclass(slots=True)
class Rejection:
    line: int
    reason: str
    raw: str = ""


@dataclass(slots=True)
class ExtractRow:
    line: int
    nir: str
    nom: str
    prenom: str
    date_naissance: datetime.date | None
    sexe: str
    adresse: str
    code_postal: str
    commune: str
    telephone: str
    email: str
    employeur_siret: str
    employeur_nom: str
    type_arret: str
    date_debut: datetime.date
    date_fin_prevue: datetime.date
    date_fin_reelle: datetime.date | None
    montant_ij: Decimal | None
    cpam_id: int
    # For PostgreSQL, made in the worker thread: the (NIR, start) key as one bigint and the
    # row in COPY's text format, less the ids (the assuré's is empty once rows are merged).
    seen_key: int = 0
    assure_text: str = ""
    arret_text: str = ""


def duplicate(row, first_line, text):
    """The rejection of a second row with the (NIR, start) of an earlier one."""
    return Rejection(
        row.line,
        f"Doublon dans le fichier : même NIR et même date de début qu'à la ligne {first_line}.",
        text[:RAW_LINE_MAX_CHARS],
    )


# --- Dates -------------------------------------------------------------------------------


def fmt(date):
    return date.strftime("%d/%m/%Y")


@functools.lru_cache(maxsize=65536)
def parse_date(value):
    """JJ/MM/AAAA (day and month may have one digit) → date; ValueError otherwise."""
    parts = value.split("/")
    if len(parts) != 3:
        raise ValueError(value)
    day, month, year = parts
    if len(year) != 4 or not (day.isdigit() and month.isdigit() and year.isdigit()):
        raise ValueError(value)
    date = datetime.date(int(year), int(month), int(day))
    if not 1900 <= date.year <= 2100:
        raise ValueError(value)
    return date


def years_before(day, years):
    """The same day ``years`` years earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def parse_extract_date(value):
    """An extract date typed by a user: AAAA-MM-JJ or JJ/MM/AAAA; ValueError with a French
    message otherwise (its plausibility is :func:`extract_date_problem`'s)."""
    text = (value or "").strip()
    try:
        return datetime.date.fromisoformat(text) if "-" in text else parse_date(text)
    except ValueError:
        raise ValueError(
            f"Date de l'extrait invalide \u00ab\u00a0{text}\u00a0\u00bb (formats acceptés\u00a0: "
            "AAAA-MM-JJ ou JJ/MM/AAAA)."
        ) from None


def extract_date_problem(day, *, today):
    """Why ``day`` cannot be the date of an extract imported on ``today`` (French), or None."""
    if day > today:
        return f"La date de l'extrait ({fmt(day)}) est dans le futur."
    if day < years_before(today, EXTRACT_MAX_AGE_YEARS):
        return (
            f"La date de l'extrait ({fmt(day)}) est antérieure de plus d'un an à aujourd'hui"
            "\u00a0: vérifiez-la."
        )
    return None


# --- Other fields ------------------------------------------------------------------------


# The amounts of an extract repeat (a few thousand distinct values): a cache larger than that.
@functools.lru_cache(maxsize=16384)
def parse_amount(value):
    text = value.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").rstrip("€")
    text = text.replace(",", ".")
    amount = Decimal(text)  # InvalidOperation for garbage
    if not amount.is_finite() or amount < 0 or amount > _IJ_MAX:
        raise InvalidOperation(value)
    return amount.quantize(_CENT)


@functools.lru_cache(maxsize=4096)
def check_siret(value):
    """(normalised SIRET, None) or ("", French problem). Employers repeat: cached."""
    try:
        return siret_normalize(value), None
    except IdentifierError as exc:
        return "", exc.message


@functools.lru_cache(maxsize=4096)
def _email_domain_ok(domain_part):
    return EmailValidator.validate_domain_part(_validate_email, domain_part)


class _EmailValidator(EmailValidator):
    """Django's EmailValidator, its regex compiled at once (not a lazy object: ~4 µs a call)
    and its domain check cached (the domains of an extract repeat)."""

    def __init__(self):
        super().__init__()
        lazy = EmailValidator.user_regex
        self.user_regex = re.compile(lazy.pattern, lazy.flags)

    def validate_domain_part(self, domain_part):
        return _email_domain_ok(domain_part)


_validate_email = _EmailValidator()


def email_ok(value):
    try:
        _validate_email(value)
    except ValidationError:
        return False
    return True


_LINE_BREAK = re.compile(r"\s*[\r\n]\s*")


def join_lines(field):
    """A field holding line breaks (a multi-line address) on one line, parts joined by « , »."""
    return _LINE_BREAK.sub(", ", field.strip())


def clear_caches():
    """The caches are bounded, but not kept from one import to the next."""
    for cache in (parse_date, check_siret, parse_amount, _email_domain_ok):
        cache.cache_clear()


# --- The row -----------------------------------------------------------------------------


class RowRules:
    """The rules of one import's rows. ``parse`` runs in the reader thread (no database
    access); ``caisse_lines`` counts the lines of each known CPAM, whatever their outcome."""

    def __init__(self, columns, *, offices, expected, allowed_region_id, today, extract_date):
        self.offices = offices  # code → (pk, region_id)
        self.expected = expected
        self.allowed_region_id = allowed_region_id
        self.today = today
        self.extract_date = extract_date
        self.oldest_start = years_before(extract_date, ARRET_MAX_AGE_YEARS)
        self.column_count = columns["_count"]
        present = [columns.get(name) for name in COLUMNS]
        if None in present:
            self.pick = lambda fields: [fields[i] if i is not None else "" for i in present]
        else:
            self.pick = operator.itemgetter(*present)
        self.caisse_lines = Counter()  # CPAM id → lines

    def parse(self, line, fields):
        """An ExtractRow, or the list of the row's problems (French)."""
        (
            nir_in,
            nom,
            prenom,
            naissance_in,
            sexe_in,
            adresse,
            code_postal,
            commune,
            telephone,
            email,
            siret_in,
            employeur_nom,
            type_in,
            debut_in,
            fin_prevue_in,
            fin_reelle_in,
            montant_in,
            caisse_in,
        ) = map(str.strip, self.pick(fields))
        errors = []
        if not caisse_in and self.expected is not None:
            caisse_in = self.expected
        if not (nir_in and nom and prenom and type_in and debut_in and fin_prevue_in and caisse_in):
            missing = [
                name
                for name, value in (
                    ("nir", nir_in),
                    ("nom", nom),
                    ("prenom", prenom),
                    ("type_arret", type_in),
                    ("date_debut_arret", debut_in),
                    ("date_fin_prevue", fin_prevue_in),
                    ("code_caisse", caisse_in),
                )
                if not value
            ]
            label = "Champ obligatoire vide" if len(missing) == 1 else "Champs obligatoires vides"
            errors.append(f"{label} : {', '.join(missing)}.")

        if (
            len(nom) > _MAX_NOM
            or len(prenom) > _MAX_PRENOM
            or len(adresse) > _MAX_ADRESSE
            or len(commune) > _MAX_COMMUNE
            or len(telephone) > _MAX_TELEPHONE
            or len(email) > _MAX_EMAIL
            or len(employeur_nom) > _MAX_EMPLOYEUR
        ):
            for name, value in (
                ("nom", nom),
                ("prenom", prenom),
                ("adresse", adresse),
                ("commune", commune),
                ("telephone", telephone),
                ("email", email),
                ("employeur_nom", employeur_nom),
            ):
                if len(value) > _MAX_LENGTHS[name]:
                    errors.append(f"{name} : trop long ({_MAX_LENGTHS[name]} caractères au plus).")
        if nom.startswith(FORMULA_PREFIXES):  # pdp.exports.looks_like_formula, inlined
            errors.append(f"nom\u00a0: {_FORMULA}")
        if prenom.startswith(FORMULA_PREFIXES):
            errors.append(f"prenom\u00a0: {_FORMULA}")

        naissance = self.date(naissance_in, "date_naissance", errors)
        debut = self.date(debut_in, "date_debut_arret", errors)
        fin_prevue = self.date(fin_prevue_in, "date_fin_prevue", errors)
        fin_reelle = self.date(fin_reelle_in, "date_fin_reelle", errors)

        sexe = ""
        if sexe_in:
            sexe = _SEXES.get(sexe_in.upper(), "")
            if not sexe:
                errors.append(f"sexe : valeur inconnue « {sexe_in} » (attendu 1, 2, M ou F).")

        nir = ""
        if nir_in:
            try:
                nir, problems = nir_check(nir_in, sex=sexe, birth_date=naissance)
            except IdentifierError as exc:
                errors.append(exc.message)
            else:
                errors.extend(problems)
                if not sexe:
                    sexe = "1" if nir[0] in NIR_MEN else "2"

        type_arret = type_in.upper()
        if type_in and type_arret not in _TYPES:
            errors.append(f"type_arret : type inconnu « {type_in} » (attendu MAL, AT ou MP).")

        siret = ""
        if siret_in:
            siret, problem = check_siret(siret_in)
            if problem:
                errors.append(f"employeur_siret : {problem}")

        if code_postal:
            if len(code_postal) == 4 and code_postal.isdigit():
                code_postal = "0" + code_postal  # spreadsheets drop the leading zero
            elif len(code_postal) != 5 or not code_postal.isdigit():
                errors.append(f"code_postal : code postal invalide « {code_postal} ».")

        if email and not email_ok(email):
            errors.append(f"email : adresse e-mail invalide « {email} ».")

        montant = None
        if montant_in:
            try:
                montant = parse_amount(montant_in)
            except InvalidOperation:
                errors.append(f"montant_ij : montant invalide « {montant_in} ».")

        cpam_id = None
        if caisse_in:
            office = self.offices.get(caisse_in)
            if office is None:
                errors.append(f"Code caisse inconnu : « {caisse_in} ».")
            else:
                self.caisse_lines[office[0]] += 1
                if self.expected is not None and caisse_in != self.expected:
                    errors.append(
                        f"Code caisse « {caisse_in} » différent de la caisse attendue "
                        f"« {self.expected} »."
                    )
                elif self.allowed_region_id is not None and office[1] != self.allowed_region_id:
                    errors.append(f"La caisse « {caisse_in} » n'appartient pas à votre région.")
                else:
                    cpam_id = office[0]

        if debut is not None:
            if debut > self.today:
                errors.append(f"La date de début de l'arrêt ({fmt(debut)}) est dans le futur.")
            elif debut < self.oldest_start:
                errors.append(
                    f"La date de début de l'arrêt ({fmt(debut)}) est antérieure de plus de "
                    f"{ARRET_MAX_AGE_YEARS} ans à la date de l'extrait "
                    f"({fmt(self.extract_date)})\u00a0: date invraisemblable."
                )
            if naissance is not None and debut < naissance:
                errors.append(
                    f"La date de début de l'arrêt ({fmt(debut)}) précède la date de naissance "
                    f"({fmt(naissance)})."
                )
            if fin_prevue is not None and fin_prevue < debut:
                errors.append(
                    f"La date de fin prévue ({fmt(fin_prevue)}) précède la date de début "
                    f"({fmt(debut)})."
                )
            if fin_reelle is not None and fin_reelle < debut:
                errors.append(
                    f"La date de fin réelle ({fmt(fin_reelle)}) précède la date de début "
                    f"({fmt(debut)})."
                )
        if naissance is not None and naissance > self.today:
            errors.append(f"La date de naissance ({fmt(naissance)}) est dans le futur.")

        if errors:
            return errors
        return ExtractRow(
            line,
            nir,
            nom,
            prenom,
            naissance,
            sexe,
            adresse,
            code_postal,
            commune,
            telephone,
            email,
            siret,
            employeur_nom,
            type_arret,
            debut,
            fin_prevue,
            fin_reelle,
            montant,
            cpam_id,
        )

    @staticmethod
    def date(value, name, errors):
        if not value:
            return None
        try:
            return parse_date(value)
        except ValueError:
            errors.append(f"{name} : date invalide « {value} » (format attendu JJ/MM/AAAA).")
            return None
