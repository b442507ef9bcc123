"""French personal and company identifiers: NIR (social security number) and SIRET.

Pure Python helpers (no Django model imports). Validation problems raise
:class:`IdentifierError`, a ``ValueError`` subclass carrying a French message meant to be
shown to users. :func:`validate_nir` and :func:`validate_siret` wrap them as Django
validators raising ``django.core.exceptions.ValidationError``.

What comes from python-stdnum and what does not:

* ``stdnum.fr.nir`` only checks that the number is 15 characters, made of digits (with
  ``2A``/``2B`` allowed at positions 6-7) and that the key matches. It does not look at the
  sex digit, the month or the place of birth, so it would accept e.g. a sex digit ``5`` or a
  month ``13``. It also strips only spaces and dots, and it reports every problem with a
  generic exception. We therefore do the cleaning, the structural checks and the key
  (97 − N mod 97, ``2A`` read as 19 and ``2B`` as 18, as stdnum's ``calc_check_digits``,
  which the test suite compares) ourselves, and reuse stdnum for the grouped display
  (``format``).
  Because stdnum does not restrict the sex digit or the month, it does accept temporary
  numbers (NIA, sex digit 7/8) and months 20-42 / 50-99; we accept them too, explicitly.
* ``stdnum.fr.siret`` has the right rules: Luhn check of the 14 digits, Luhn check of the
  SIREN, and the La Poste exception (SIREN 356000000: the sum of the digits must be a
  multiple of 5, except the head office 356 000 000 00048 which follows Luhn). They are
  written again here over ASCII digits because stdnum takes about 15 µs per number and the
  CPAM import checks one per line (the test suite compares both over random numbers); we
  add our own cleaning and distinct French messages.

These functions are on the CPAM import's hot path (one NIR and one SIRET per line): the
usual input (plain digits) skips the separator regex, and :func:`nir_check` normalises and
checks coherence in one pass.
"""

from __future__ import annotations

import datetime
import re

from stdnum.fr import nir as stdnum_nir
from stdnum.fr import siret as stdnum_siret

__all__ = [
    "IdentifierError",
    "nir_check",
    "nir_check_coherence",
    "nir_clean",
    "nir_format",
    "nir_is_temporary",
    "nir_key",
    "nir_normalize",
    "nir_validate",
    "siret_format",
    "siret_normalize",
    "siret_validate",
    "validate_nir",
    "validate_siret",
]


class IdentifierError(ValueError):
    """Invalid identifier. ``message`` is in French and can be shown to users."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# Separators users commonly type: any whitespace (incl. non-breaking spaces), dots, dashes.
_SEPARATORS_RE = re.compile(r"[\s.\-‐‑‒–—]+")


def _strip_separators(value: str) -> str:
    return _SEPARATORS_RE.sub("", value)


# ---------------------------------------------------------------------------
# NIR
# ---------------------------------------------------------------------------

NIR_LENGTH = 15

# Sex digit: 1 = man, 2 = woman; 7 / 8 = temporary number (NIA) for a man / a woman.
NIR_REGULAR_SEX_DIGITS = frozenset("12")
NIR_TEMPORARY_SEX_DIGITS = frozenset("78")
NIR_MEN = frozenset("17")
NIR_WOMEN = frozenset("28")
_NIR_SEX_DIGITS = NIR_REGULAR_SEX_DIGITS | NIR_TEMPORARY_SEX_DIGITS

_NIR_CHARS_RE = re.compile(r"[0-9AB]*")

_NIR_MSG_EMPTY = "Le NIR est vide."
_NIR_MSG_CHARS = (
    "Le NIR ne peut contenir que des chiffres (et « 2A » ou « 2B » pour un département de "
    "naissance en Corse)."
)
_NIR_MSG_LENGTH = "Le NIR doit comporter 15 caractères (13 + clé)."
_NIR_MSG_LETTERS = (
    "Le NIR ne peut contenir de lettre qu'au département de naissance (6e et 7e caractères), "
    "sous la forme « 2A » ou « 2B » pour la Corse."
)
_NIR_MSG_SEX = (
    "Le premier chiffre du NIR (sexe) doit être 1 ou 2, ou 7 ou 8 pour un numéro provisoire."
)
_NIR_MSG_MONTH = "Le mois de naissance du NIR (4e et 5e chiffres) est invalide."
_NIR_MSG_PLACE = "Le lieu de naissance du NIR (6e au 10e caractères) est invalide."
_NIR_MSG_KEY = "Clé du NIR invalide."


def _nir_month_is_valid(month: int) -> bool:
    # 01-12: regular month; 20-42 and 50-99: pseudo-months used when the civil record is
    # incomplete (unknown month of birth, registration from a partial record...).
    return 1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99


def _nir_place_is_valid(place: str) -> bool:
    department = place[:2]
    if not department.isdigit():
        return department in ("2A", "2B")
    # 01-96 metropolitan départements. 20 is Corsica before the 1976 split, and 91-96 were
    # also used for Algeria (before 1962), Morocco and Tunisia (before independence), so
    # they are accepted as well. 97x / 98x: overseas (3-digit département code + 2-digit
    # commune). 99: born abroad, followed by the INSEE country code. So 01-99.
    return department != "00"


def nir_clean(value: str) -> str:
    """The NIR without separators (spaces, dots, dashes) and upper-cased (``2a`` → ``2A``),
    *without* checking it: what :func:`nir_normalize` returns for a valid NIR, and what
    ``Assure.save()`` stores whatever the path (an invalid NIR is the validator's business)."""
    return _strip_separators(str(value)).upper()


def nir_normalize(value: str) -> str:
    """Return the NIR as 15 uppercase characters, or raise :class:`IdentifierError`.

    Spaces, dots and dashes are removed. Checks, in this order: allowed characters, length,
    position of the letters (only ``2A``/``2B`` as birth département), sex digit, birth
    month, birth place, key.
    """
    if value is None:
        raise IdentifierError(_NIR_MSG_EMPTY, "nir_empty")
    number = str(value)
    digits_only = number.isdigit() and number.isascii()  # the usual input: nothing to clean
    if not digits_only:
        number = nir_clean(number)
        if not number:
            raise IdentifierError(_NIR_MSG_EMPTY, "nir_empty")
        digits_only = number.isdigit() and number.isascii()
        if not digits_only and not _NIR_CHARS_RE.fullmatch(number):
            raise IdentifierError(_NIR_MSG_CHARS, "nir_characters")
    if len(number) != NIR_LENGTH:
        raise IdentifierError(_NIR_MSG_LENGTH, "nir_length")
    if not digits_only and (
        not (number[:5] + number[7:]).isdigit()
        or not (number[5:7].isdigit() or number[5:7] in ("2A", "2B"))
    ):
        raise IdentifierError(_NIR_MSG_LETTERS, "nir_letters")
    if number[0] not in _NIR_SEX_DIGITS:
        raise IdentifierError(_NIR_MSG_SEX, "nir_sex")
    if not _nir_month_is_valid(int(number[3:5])):
        raise IdentifierError(_NIR_MSG_MONTH, "nir_month")
    if not _nir_place_is_valid(number[5:10]):
        raise IdentifierError(_NIR_MSG_PLACE, "nir_place")
    if _nir_key_number(number) != int(number[13:]):
        raise IdentifierError(_NIR_MSG_KEY, "nir_key")
    return number


def _nir_key_number(number: str) -> int:
    """97 − (N mod 97), N being the 13 first characters with 2A read as 19 and 2B as 18."""
    body = number[:13]
    department = body[5:7]
    if department == "2A":
        body = body[:5] + "19" + body[7:]
    elif department == "2B":
        body = body[:5] + "18" + body[7:]
    return 97 - int(body) % 97


nir_validate = nir_normalize


def nir_key(first13: str) -> str:
    """Compute the 2-digit key of the first 13 characters of a NIR (2A/2B allowed)."""
    first13 = _strip_separators(first13).upper()
    return f"{_nir_key_number(first13):02d}"


def nir_format(nir: str) -> str:
    """Grouped display of a NIR: ``1 85 05 78 006 084 36``. The NIR is validated first."""
    return stdnum_nir.format(nir_normalize(nir))


def nir_is_temporary(nir: str) -> bool:
    """True for a temporary number (NIA), i.e. a NIR starting with 7 or 8."""
    return nir_normalize(nir)[0] in NIR_TEMPORARY_SEX_DIGITS


_SEX_ALIASES = {
    "1": "M",
    "M": "M",
    "H": "M",
    "2": "F",
    "F": "F",
}


def nir_check_coherence(
    nir: str,
    *,
    sex: str | None,
    birth_date: datetime.date | None,
) -> list[str]:
    """List (in French) the incoherences between a NIR and the given sex / birth date.

    ``sex`` may be ``"1"``/``"M"``/``"H"`` (man) or ``"2"``/``"F"`` (woman), case-insensitive;
    ``None`` or an unknown value skips the sex check. The month is only compared when the
    NIR's month is a real month (01-12). Temporary numbers (NIA) are not checked at all,
    since they do not necessarily reflect the civil status. Raises :class:`IdentifierError`
    if the NIR itself is invalid.
    """
    return nir_check(nir, sex=sex, birth_date=birth_date)[1]


def nir_check(
    value: str,
    *,
    sex: str | None = None,
    birth_date: datetime.date | None = None,
) -> tuple[str, list[str]]:
    """:func:`nir_normalize` and :func:`nir_check_coherence` in one pass: the normalised NIR
    and the list of its incoherences with ``sex`` and ``birth_date``."""
    number = nir_normalize(value)
    problems: list[str] = []
    if number[0] in NIR_TEMPORARY_SEX_DIGITS:
        return number, problems

    if sex:
        normalized_sex = _SEX_ALIASES.get(sex) or _SEX_ALIASES.get(str(sex).strip().upper())
        if normalized_sex == "M" and number[0] not in NIR_MEN:
            problems.append("Le NIR commence par 2 (femme) alors que le sexe indiqué est masculin.")
        elif normalized_sex == "F" and number[0] not in NIR_WOMEN:
            problems.append("Le NIR commence par 1 (homme) alors que le sexe indiqué est féminin.")

    if birth_date is not None:
        nir_year = number[1:3]
        if int(nir_year) != birth_date.year % 100:
            problems.append(
                f"L'année de naissance ({birth_date.year}) ne correspond pas au NIR "
                f"(année « {nir_year} »)."
            )
        nir_month = number[3:5]
        if 1 <= int(nir_month) <= 12 and int(nir_month) != birth_date.month:
            problems.append(
                f"Le mois de naissance ({birth_date.month:02d}) ne correspond pas au NIR "
                f"(mois « {nir_month} »)."
            )
    return number, problems


# ---------------------------------------------------------------------------
# SIRET
# ---------------------------------------------------------------------------

SIRET_LENGTH = 14

_SIRET_MSG_EMPTY = "Le SIRET est vide."
_SIRET_MSG_CHARS = "Le SIRET ne doit contenir que des chiffres."
_SIRET_MSG_LENGTH = "Le SIRET doit comporter 14 chiffres."
_SIRET_MSG_SIREN = "Le SIREN (9 premiers chiffres du SIRET) est invalide."
_SIRET_MSG_KEY = "Numéro SIRET invalide (clé de contrôle incorrecte)."


_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"
# Each digit doubled, then its two digits added (Luhn): 5 → 10 → 1.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _luhn_ok(digits: str) -> bool:
    """Luhn check of a string of ASCII digits (the sum of the digits' codes, less 48 each)."""
    summed = digits[-1::-2] + digits[-2::-2].translate(_LUHN_DOUBLED)
    return (sum(summed.encode()) - 48 * len(summed)) % 10 == 0


def siret_normalize(value: str) -> str:
    """Return the SIRET as 14 digits, or raise :class:`IdentifierError`.

    Spaces, dots and dashes are removed. Checks: the SIREN (9 first digits) passes Luhn,
    then the 14 digits pass Luhn, or for La Poste (SIREN 356000000, except its head office)
    their sum is a multiple of 5 (the rules of ``stdnum.fr.siret``).
    """
    if value is None:
        raise IdentifierError(_SIRET_MSG_EMPTY, "siret_empty")
    number = str(value)
    if not number.isalnum():  # else there is no separator to remove
        number = _strip_separators(number)
    if not number:
        raise IdentifierError(_SIRET_MSG_EMPTY, "siret_empty")
    if not number.isascii() or not number.isdigit():
        raise IdentifierError(_SIRET_MSG_CHARS, "siret_characters")
    if len(number) != SIRET_LENGTH:
        raise IdentifierError(_SIRET_MSG_LENGTH, "siret_length")
    if not _luhn_ok(number[:9]):
        raise IdentifierError(_SIRET_MSG_SIREN, "siret_siren")
    if number.startswith(_LA_POSTE_SIREN) and number != _LA_POSTE_HEAD_OFFICE:
        key_ok = (sum(number.encode()) - 48 * SIRET_LENGTH) % 5 == 0
    else:
        key_ok = _luhn_ok(number)
    if not key_ok:
        raise IdentifierError(_SIRET_MSG_KEY, "siret_key")
    return number


siret_validate = siret_normalize


def siret_format(siret: str) -> str:
    """Grouped display of a SIRET: ``732 829 320 00074``. The SIRET is validated first."""
    return stdnum_siret.format(siret_normalize(siret))


# ---------------------------------------------------------------------------
# Django validators
# ---------------------------------------------------------------------------


def _as_django_validator(func, value) -> None:
    # Imported lazily so that this module stays importable without Django settings.
    from django.core.exceptions import ValidationError

    try:
        func(value)
    except IdentifierError as exc:
        raise ValidationError(exc.message, code=exc.code) from exc


def validate_nir(value: str) -> None:
    """Django validator for a NIR (raises ``ValidationError`` with a French message)."""
    _as_django_validator(nir_normalize, value)


def validate_siret(value: str) -> None:
    """Django validator for a SIRET (raises ``ValidationError`` with a French message)."""
    _as_django_validator(siret_normalize, value)
