"""The GSM 03.38 alphabet of SMS: what fits in 7 bits, and how many SMS a text costs.

A text made only of GSM-7 characters travels 160 characters per SMS (153 per part of a long
one); a single character outside the alphabet switches the whole text to UCS-2 — 70 characters
per SMS (67 per part) — and roughly doubles the bill. `normalise` therefore rewrites a French
text into the alphabet before it is sent (as RDV-Insertion does): curly quotes, guillemets,
non-breaking spaces, œ, dashes, ellipsis and the accents the table lacks (â, ê, î, ô, û, ë, ï,
ç…) become their closest GSM-7 equivalent. The accents the table has (é, è, ù, à, ì, ò, É, Ç, Ä,
Ö, Ñ, Ü, ä, ö, ñ, ü) are kept.
"""

import math
import unicodedata

# GSM 03.38 basic character set (3GPP TS 23.038 §6.2.1), in table order. ESC (0x1B) is left out:
# it only introduces the extension characters below.
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets (ESC + the character).
EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SMS_SEPTETS = 160
PART_SEPTETS = 153  # 7 septets of each part carry the concatenation header
SINGLE_SMS_UCS2 = 70
PART_UCS2 = 67

# Characters a French text often holds, with what they become.
_REPLACEMENTS = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’ (the French apostrophe)
    "\u201a": "'",  # ‚
    "\u2032": "'",  # ′
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2039": "'",  # ‹
    "\u203a": "'",  # ›
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space (French typography before ; : ! ?)
    "\u2009": " ",  # thin space
    "\u2007": " ",  # figure space
    "\u2002": " ",
    "\u2003": " ",
    "\t": " ",
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",
    "\u2013": "-",  # –
    "\u2014": "-",  # —
    "\u2212": "-",  # minus
    "\u2026": "...",  # …
    "\u2022": "-",  # •
    "\u00b7": ".",  # · (also the point médian of inclusive writing)
    "\u0153": "oe",  # œ
    "\u0152": "OE",  # Œ
    "\u00e7": "c",  # ç is NOT in the table (only Ç is)
    "\u00b0": "o",  # ° (n°)
    "\u00ba": "o",
    "\u00aa": "a",
    "\u2122": "TM",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
}


def is_gsm(text: str) -> bool:
    """True if every character of ``text`` is in the GSM-7 basic set or its extension."""
    return all(char in BASIC or char in EXTENSION for char in text)


def _normalise_char(char: str) -> str:
    if char in BASIC or char in EXTENSION:
        return char
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    # An accented letter the table lacks (â ê î ô û ë ï ÿ á í ó ú À Â È Ê Ë Î Ï Ô Ù Û…):
    # its base letter, if that is in the table.
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    if base and all(c in BASIC for c in base):
        return base
    return "?"


def normalise(text: str) -> str:
    """``text`` rewritten in the GSM-7 alphabet (basic set and extension), as close as possible;
    a character with no equivalent becomes « ? »."""
    return "".join(_normalise_char(char) for char in unicodedata.normalize("NFC", text))


def septets(text: str) -> int:
    """Length of a GSM-7 text in septets (extension characters count two)."""
    return sum(2 if char in EXTENSION else 1 for char in text)


def segments(text: str) -> int:
    """How many SMS ``text`` takes: 1 up to 160 septets, else one per 153 septets (an extension
    character is never split across two parts). A text with a character outside GSM-7 is sent
    in UCS-2: 70 UTF-16 units, else 67 per part. An empty text still costs one SMS."""
    if not is_gsm(text):
        units = len(text.encode("utf-16-le")) // 2
        return 1 if units <= SINGLE_SMS_UCS2 else math.ceil(units / PART_UCS2)
    if septets(text) <= SINGLE_SMS_SEPTETS:
        return 1
    parts, used = 1, 0
    for char in text:
        cost = 2 if char in EXTENSION else 1
        if used + cost > PART_SEPTETS:
            parts += 1
            used = 0
        used += cost
    return parts
