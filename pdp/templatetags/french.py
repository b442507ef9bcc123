"""French elision in templates: « Accompagnement {{ case.assure|de }} » → « d'ANDRÉ Jérôme »."""

from django import template

from pdp.typography import de as _de
from pdp.typography import de_prefix as _de_prefix

register = template.Library()


@register.filter
def de(value):
    """« de X », or « d'X » before a vowel."""
    return _de(value)


@register.filter
def de_prefix(value):
    """Only the « de » / « d' » that goes before `value` (when `value` is in a link)."""
    return _de_prefix(value)
