"""Who sees which figures (issue 13, item 2): a unit manager their unit; a regional manager
their region, with the breakdown by unit; an administrator the nation, with the breakdown by
region, and any region or unit of it; a coordinator of the cellule PDP the instances they
coordinate (`Instance.objects.coordinated_by`, coordination's own rule), or one of them
(``?instance=``), without breakdown. Aggregates only: never a figure per social worker.

`scope_for(user, params)`: the other roles get 403 (they are staff, the page exists for
managers); a unit, region or instance outside the user's reach gets 404, as any record they may
not see. A coordinator who coordinates no instance gets the page with a sentence saying so
(`Scope.empty`): the menu offers it to every coordinator, an error would be no answer.
"""

import dataclasses

from django.core.exceptions import PermissionDenied
from django.http import Http404

from coordination.models import Instance
from pdp.models import Region, Role, Unit
from pdp.permissions import FORBIDDEN_MESSAGE

ROLES = (Role.MANAGER, Role.REGIONAL, Role.ADMIN, Role.COORDINATEUR)
COORDINATOR_LABEL = "Mes cellules PDP"


@dataclasses.dataclass(frozen=True)
class Scope:
    level: str  # "unit", "region", "nation" or "instances"
    label: str
    unit_id: int | None = None
    region_id: int | None = None
    # A coordinator's scope (level "instances"): the cellule PDP instances they coordinate.
    instance_ids: tuple = ()
    # A region's units: the live counts filter records whose region is their unit's by these
    # ids (PostgreSQL plans that far better than a join to the units).
    unit_ids: tuple = ()

    @property
    def empty(self):
        """A coordinator's scope without any instance: nothing to count."""
        return self.level == "instances" and not self.instance_ids

    @property
    def breakdown(self):
        """The level of the breakdown table: the units of a region, the regions of the nation."""
        return {"region": "unit", "nation": "region"}.get(self.level)


def may_read(user):
    if not user.is_authenticated or user.role not in ROLES:
        return False
    if user.role == Role.MANAGER:
        return user.unit_id is not None
    if user.role == Role.REGIONAL:
        return user.region_id is not None
    return True


def _pk(params, name):
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise Http404
    return int(value)


def _unit(pk, **filters):
    unit = Unit.objects.filter(pk=pk, **filters).select_related("region").first()
    if unit is None:
        raise Http404
    return Scope("unit", unit.name, unit_id=unit.pk, region_id=unit.region_id)


def instances_of(user):
    """The instances a coordinator may pick, in name order: those they coordinate."""
    return Instance.objects.coordinated_by(user).order_by("nom", "pk")


def _instances(user, instance_id):
    """All the instances the coordinator coordinates, or the one of them asked for."""
    instances = list(instances_of(user).values_list("pk", "nom"))
    if instance_id is None:
        return Scope("instances", COORDINATOR_LABEL, instance_ids=tuple(pk for pk, _n in instances))
    name = dict(instances).get(instance_id)
    if name is None:
        raise Http404
    return Scope("instances", name, instance_ids=(instance_id,))


def scope_for(user, params):
    """The scope the page shows to `user` for the query string `params` (``unite``,
    ``region``, ``instance``)."""
    if not may_read(user):
        raise PermissionDenied(FORBIDDEN_MESSAGE)
    unit_id, region_id = _pk(params, "unite"), _pk(params, "region")
    if user.role == Role.COORDINATEUR:
        if unit_id is not None or region_id is not None:
            raise Http404
        return _instances(user, _pk(params, "instance"))
    if user.role == Role.MANAGER:
        if unit_id not in (None, user.unit_id) or region_id is not None:
            raise Http404
        return _unit(user.unit_id)
    if user.role == Role.REGIONAL:
        if region_id not in (None, user.region_id):
            raise Http404
        if unit_id is not None:
            return _unit(unit_id, region_id=user.region_id)
        region = Region.objects.get(pk=user.region_id)
        return _region(region)
    if unit_id is not None:
        return _unit(unit_id)
    if region_id is not None:
        region = Region.objects.filter(pk=region_id).first()
        if region is None:
            raise Http404
        return _region(region)
    return Scope("nation", "France entière")


def _region(region):
    ids = tuple(Unit.objects.filter(region_id=region.pk).values_list("pk", flat=True))
    return Scope("region", region.name, region_id=region.pk, unit_ids=ids)


def units_of(scope):
    """The units a regional manager may pick (their region's), in name order."""
    if scope.region_id is None:
        return Unit.objects.none()
    return Unit.objects.filter(region_id=scope.region_id).order_by("name")
