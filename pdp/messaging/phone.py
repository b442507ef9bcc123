"""French phone numbers to E.164 (``+33612345678``), the form SMS providers expect.

Accepted: national numbers (``06 12 34 56 78``, ``06.12.34.56.78``), international ones
(``+33 6 12 34 56 78``, ``0033 6…``, ``+33 (0)6…``), with spaces, dots, dashes or brackets.
Overseas mobiles dialled nationally get their own country code: 0690/0691 Guadeloupe and the
Saint-Martin/Saint-Barthélemy numbers (+590), 0694 Guyane (+594), 0696/0697 Martinique (+596),
0692/0693 La Réunion and 0639 Mayotte (+262). Other countries are refused.
"""

import re

from django.core.exceptions import ValidationError

# National prefix (after the leading 0) → country code, for the overseas mobile ranges.
_OVERSEAS_MOBILE = {
    "690": "590",
    "691": "590",
    "694": "594",
    "696": "596",
    "697": "596",
    "692": "262",
    "693": "262",
    "639": "262",
}
_FRENCH_CODES = {"33", "262", "590", "594", "596", "269"}
_SEPARATORS = re.compile(r"[\s.\-/()\u00a0\u202f]")


def normalise_phone(value: str, *, mobile: bool = False) -> str:
    """``value`` as an E.164 French number; ``ValidationError`` (French) if it is not one, or,
    with ``mobile=True``, if it cannot receive an SMS (not an 06 / 07 number)."""
    raw = _SEPARATORS.sub("", str(value or ""))
    invalid = ValidationError(
        "Numéro de téléphone invalide : 10 chiffres attendus, par exemple 06 12 34 56 78.",
        code="invalid_phone",
    )
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+"):
        digits = raw[1:]
        if not digits.isdigit():
            raise invalid
        code = next(
            (c for c in sorted(_FRENCH_CODES, key=len, reverse=True) if digits.startswith(c)), None
        )
        if code is None:
            raise ValidationError("Seuls les numéros français sont acceptés.", code="foreign_phone")
        national = digits[len(code) :]
        if national.startswith("0"):  # +33 (0)6…
            national = national[1:]
    elif raw.startswith("0") and raw.isdigit():
        national = raw[1:]
        code = _OVERSEAS_MOBILE.get(national[:3], "33")
    else:
        raise invalid
    if len(national) != 9 or not national.isdigit() or national[0] == "0":
        raise invalid
    if mobile and national[0] not in "67":
        raise ValidationError(
            "Ce numéro n'est pas un numéro de mobile : un SMS ne peut pas y être envoyé.",
            code="not_mobile",
        )
    return f"+{code}{national}"
