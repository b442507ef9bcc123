"""The page's filters beyond the period (issue 13, item 3): mission, CPAM, arrêt type. Each
indicator says through which path each filter applies (`Indicator.filter_paths`); an
indicator a filter does not apply to is shown « non applicable » rather than unfiltered. An
unknown value is ignored with a French message (nothing else changes)."""

from cases.models import Mission
from coordination.models import Instance
from pdp.models import CpamOffice
from referrals.models import TypeArret

LABELS = {"mission": "Mission", "cpam": "CPAM", "type_arret": "Type d'arrêt"}


def cpams_of(scope):
    """The CPAM offices of the scope's region (all of them for the nation; for a coordinator,
    those of their instances' regions), by code."""
    qs = CpamOffice.objects.order_by("code")
    if scope.region_id is not None:
        qs = qs.filter(region_id=scope.region_id)
    elif scope.level == "instances":
        regions = Instance.objects.filter(pk__in=scope.instance_ids).values("region_id")
        qs = qs.filter(region_id__in=regions)
    return list(qs.values_list("pk", "code", "name"))


def choices(scope):
    return {
        "mission": list(Mission.choices),
        "cpam": [(str(pk), f"{code} – {name}") for pk, code, name in cpams_of(scope)],
        "type_arret": list(TypeArret.choices),
    }


def filters_from(params, options_by_filter):
    """({filter: value}, French error or None); `options_by_filter` is `choices(scope)`."""
    chosen, wrong = {}, []
    for name, options in options_by_filter.items():
        value = (params.get(name) or "").strip()
        if not value:
            continue
        if value in {str(v) for v, _label in options}:
            chosen[name] = int(value) if name == "cpam" else value
        else:
            wrong.append(LABELS[name])
    error = None
    if wrong:
        error = f"Filtre inconnu ({', '.join(wrong)}) : il est ignoré."
    return chosen, error
