"""Small helpers for French text built from data: elision, articles, no-break spaces."""

import re

VOWELS = "aeiouyéèêëàâîïôû"
NBSP = "\u00a0"


def nbsp(text):
    """`text` with the no-break spaces of French typography: inside « », before ; : ? !"""
    text = text.replace("« ", f"«{NBSP}").replace(" »", f"{NBSP}»")
    return re.sub(r" ([;:?!])", rf"{NBSP}\1", text)


def de_prefix(noun):
    """« d' » before a vowel, else « de » (with its space)."""
    return "d'" if str(noun)[:1].lower() in VOWELS else "de "


def de(noun):
    """« de » with its elision: « d'unité », « d'Évreux », « de partenaire »."""
    return f"{de_prefix(noun)}{noun}"


def unit_with_article(unit):
    """« l'unité de Caen » for the unit named « Unité de Caen », after a preposition."""
    name = str(unit)
    if name[:6].lower() == "unité ":
        return f"l'unité {name[6:]}"
    return f"l'unité {name}"
