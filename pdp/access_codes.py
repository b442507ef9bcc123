"""Short access codes for people without an account (issue 10, item 1).

A code is 8 characters from Crockford's base32 alphabet (no I, L, O or U: nothing to mistake
for another character on a letter or a phone screen), made with `secrets`: 32^8 ≈ 10^12
values. It is shown once, to be sent by SMS, e-mail or letter, and stored only as an
HMAC-SHA256 digest keyed by SECRET_KEY: a copy of the database gives no usable code. Look-ups
try SECRET_KEY_FALLBACKS too, so rotating SECRET_KEY keeps the codes already sent working
while the old key stays in the fallbacks (until they have expired).

Every invalid case — unknown or forged, expired, revoked, used (one-time purposes), locked —
gives the same answer, None, so that a caller shows one page and codes cannot be probed.

The public entry point (`/r/<code>`, later in `outreach/`) looks the code up, moves it into the
session with `code_to_session` and redirects to a URL without it; the next pages get the row
back with `row_from_session`. Nothing here writes the code itself anywhere, audit log included.
"""

import datetime
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, When
from django.utils import timezone
from django.utils.crypto import salted_hmac

from pdp.audit import audit, audit_many
from pdp.models import AccessCode, AuditLog

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8
# What people type for a character the alphabet lacks.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -\t\u00a0\u202f")
_SALT = "pdp.access_codes.digest"

# Codes used once: a booking code is spent by the booking (and so are a webinar registration
# and a survey answer); a « manage » code serves until the meeting, i.e. until it expires.
ONE_TIME_PURPOSES = frozenset(
    {AccessCode.Purpose.BOOKING, AccessCode.Purpose.WEBINAR, AccessCode.Purpose.SURVEY}
)
# Wrong birth dates before a code is locked.
MAX_FAILED_CHECKS = 5
# How long a code moved into the session keeps working there without being typed again.
SESSION_KEY = "pdp_access_code"
SESSION_LIFETIME = datetime.timedelta(minutes=10)


def generate():
    """A new clear code, 8 characters of ALPHABET."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code):
    """The code as printed and read out: « ABCD-EFGH »."""
    return f"{code[:4]}-{code[4:]}"


def normalize(text):
    """What a person typed or a link carried, as a code: upper-case, without spaces or dashes,
    O read as 0 and I or L as 1. The result may still not be a code (see `is_well_formed`)."""
    return str(text or "").upper().translate(_SEPARATORS).translate(_LOOKALIKES)


def is_well_formed(code):
    return len(code) == LENGTH and all(char in ALPHABET for char in code)


def _digest(code, secret):
    return salted_hmac(_SALT, code, secret=secret, algorithm="sha256").hexdigest()


def _digests(code):
    """The code's digest under SECRET_KEY first, then under each fallback key."""
    return [_digest(code, key) for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


def _valid(now):
    """The codes that still open something at `now`."""
    return AccessCode.objects.filter(
        expires_at__gt=now, revoked_at__isnull=True, locked_at__isnull=True
    ).exclude(purpose__in=ONE_TIME_PURPOSES, used_at__isnull=False)


def access_code_issue(
    *, purpose, assure_id, expires_at, acting_user=None, object_type="", object_id=""
):
    """A new code for `assure_id`. Returns (row, code): the clear code exists only in this
    return value, to be sent at once; it cannot be found again."""
    if purpose not in AccessCode.Purpose.values:
        raise ValueError(f"unknown access code purpose: {purpose!r}")
    if expires_at <= timezone.now():
        raise ValueError("an access code must expire in the future")
    for _attempt in range(5):
        code = generate()
        try:
            with transaction.atomic():
                row = AccessCode.objects.create(
                    purpose=purpose,
                    digest=_digest(code, settings.SECRET_KEY),
                    assure_id=assure_id,
                    expires_at=expires_at,
                    created_by=acting_user,
                    object_type=object_type,
                    object_id=str(object_id) if object_id != "" else "",
                )
                audit(
                    user=acting_user,
                    action=AuditLog.Action.CREATE,
                    obj=row,
                    assure_id=assure_id,
                    changes={
                        "purpose": [None, purpose],
                        "expires_at": [None, expires_at],
                        "object": [None, f"{object_type} {row.object_id}".strip()],
                    },
                )
        except IntegrityError:
            # Two codes with one digest: one chance in 10^12 per existing code. Draw again.
            continue
        return row, code
    raise RuntimeError("no free access code after 5 draws")


@transaction.atomic
def access_codes_issue_many(*, purpose, items, acting_user=None):
    """Many codes at once, set-based (a campaign's invitations): ``items`` is a list of dicts
    with ``assure_id``, ``expires_at`` and optionally ``object_type`` / ``object_id``. Two
    statements whatever the number (the codes, their audit rows). Returns [(row, code)] in the
    order of ``items``; the clear codes exist only in this return value."""
    if purpose not in AccessCode.Purpose.values:
        raise ValueError(f"unknown access code purpose: {purpose!r}")
    now = timezone.now()
    if any(item["expires_at"] <= now for item in items):
        raise ValueError("an access code must expire in the future")
    if not items:
        return []
    for _attempt in range(5):
        codes = [generate() for _item in items]
        if len(set(codes)) != len(codes):
            continue
        rows = [
            AccessCode(
                purpose=purpose,
                digest=_digest(code, settings.SECRET_KEY),
                assure_id=item["assure_id"],
                expires_at=item["expires_at"],
                created_by=acting_user,
                object_type=item.get("object_type", ""),
                object_id=str(item.get("object_id", "")),
            )
            for code, item in zip(codes, items, strict=True)
        ]
        try:
            with transaction.atomic():
                AccessCode.objects.bulk_create(rows)
        except IntegrityError:
            continue  # a digest already taken (one chance in 10^12 per code): draw again
        audit_many(
            user=acting_user,
            action=AuditLog.Action.CREATE,
            model=AccessCode,
            entries=(
                (
                    row.pk,
                    row.assure_id,
                    {
                        "purpose": [None, purpose],
                        "expires_at": [None, row.expires_at],
                        "object": [None, f"{row.object_type} {row.object_id}".strip()],
                    },
                )
                for row in rows
            ),
        )
        return list(zip(rows, codes, strict=True))
    raise RuntimeError("no free access codes after 5 draws")


def access_code_lookup(*, code):
    """The valid row of `code` (typed or from a link), or None for every invalid case alike."""
    code = normalize(code)
    if not is_well_formed(code):
        return None
    return _valid(timezone.now()).filter(digest__in=_digests(code)).first()


def access_code_check_birth_date(*, row, birth_date, actual_birth_date):
    """Whether `birth_date`, as the person typed it, is theirs. A wrong one counts against the
    code (one atomic UPDATE, safe with two requests at once); the MAX_FAILED_CHECKS-th locks it,
    for good: the unit sends a new code. A locked code answers False even to the right date.
    A right date clears the count, so that a « manage » code used on several days does not
    lock over a few typos spread over weeks."""
    unlocked = AccessCode.objects.filter(pk=row.pk, locked_at__isnull=True)
    if birth_date is not None and birth_date == actual_birth_date:
        confirmed = unlocked.update(failed_checks=0) == 1
        row.refresh_from_db(fields=["failed_checks", "locked_at"])
        return confirmed
    now = timezone.now()
    with transaction.atomic():
        unlocked.update(
            failed_checks=F("failed_checks") + 1,
            locked_at=Case(When(failed_checks__gte=MAX_FAILED_CHECKS - 1, then=now), default=None),
        )
        row.refresh_from_db(fields=["failed_checks", "locked_at"])
        if row.locked_at == now:
            audit(
                user=None,
                action=AuditLog.Action.UPDATE,
                obj=row,
                assure_id=row.assure_id,
                changes={"locked_at": [None, now], "failed_checks": [None, row.failed_checks]},
            )
    return False


@transaction.atomic
def access_code_use(*, row):
    """Spend a one-time code (the booking it opened is made). True for the one call that spent
    it — of two requests at once, only one gets True — False if it was already spent or is no
    longer valid (expired, revoked or locked meanwhile). Call it inside the transaction of what
    the code opens, so that a refusal undoes that too."""
    if row.purpose not in ONE_TIME_PURPOSES:
        raise ValueError(f"a {row.purpose!r} code is not spent: it serves until it expires")
    now = timezone.now()
    used_at = now
    if row.purpose == AccessCode.Purpose.SURVEY:
        # A survey code records only that it was used, on which day (local midnight): no
        # time to set beside an answer, and no audit row naming the person (the answer must
        # not be traceable to them; README, « Satisfaction surveys and follow-up »).
        used_at = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    spent = _valid(now).filter(pk=row.pk, used_at__isnull=True).update(used_at=used_at) == 1
    if spent:
        row.used_at = used_at
    if spent and row.purpose != AccessCode.Purpose.SURVEY:
        audit(
            user=None,
            action=AuditLog.Action.UPDATE,
            obj=row,
            assure_id=row.assure_id,
            changes={"used_at": [None, now]},
        )
    return spent


@transaction.atomic
def access_code_revoke(*, row, acting_user):
    """Revoke a code (sent to a wrong number, a new one sent). True if this call revoked it."""
    now = timezone.now()
    revoked = (
        AccessCode.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=now) == 1
    )
    if revoked:
        row.revoked_at = now
        audit(
            user=acting_user,
            action=AuditLog.Action.UPDATE,
            obj=row,
            assure_id=row.assure_id,
            changes={"revoked_at": [None, now]},
        )
    return revoked


@transaction.atomic
def access_codes_revoke_for(*, object_type, object_id, acting_user=None, purpose=None):
    """Revoke every code bound to an object still unrevoked (a cancelled meeting's « manage »
    codes), or only those of `purpose` (one purpose, or several in a list, tuple or set) when
    given. One audit row per code revoked; returns how many were."""
    pending = AccessCode.objects.filter(
        object_type=object_type, object_id=str(object_id), revoked_at__isnull=True
    )
    if purpose is not None:
        purposes = [purpose] if isinstance(purpose, str) else list(purpose)
        pending = pending.filter(purpose__in=purposes)
    return access_codes_revoke_ids(ids=pending.values("pk"), acting_user=acting_user)


@transaction.atomic
def access_codes_revoke_ids(*, ids, acting_user=None):
    """Revoke the codes ``ids`` (a list of pks or a queryset of pks) still unrevoked, set-based:
    a fixed number of statements, one audit row per code revoked. Returns how many were."""
    now = timezone.now()
    rows = list(
        AccessCode.objects.select_for_update()
        .filter(pk__in=ids, revoked_at__isnull=True)
        .values_list("pk", "assure_id")
    )
    if not rows:
        return 0
    AccessCode.objects.filter(pk__in=[pk for pk, _a in rows]).update(revoked_at=now)
    return audit_many(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        model=AccessCode,
        entries=((pk, assure_id, {"revoked_at": [None, now]}) for pk, assure_id in rows),
    )


# --- Session hand-off --------------------------------------------------------------------


def code_to_session(request, row, lifetime=SESSION_LIFETIME):
    """Remember `row` in the session (its pk and an expiry, never the code) for `lifetime`
    (SESSION_LIFETIME), so that the entry point can redirect to a URL without the code. The
    session key changes: a session id seen before the code cannot ride on it."""
    request.session.cycle_key()
    until = timezone.now() + lifetime
    request.session[SESSION_KEY] = {"pk": row.pk, "until": until.timestamp()}


def row_from_session(request):
    """The row `code_to_session` stored, if the hand-off has not expired and the code is still
    valid; None otherwise (then the entry is forgotten)."""
    entry = request.session.get(SESSION_KEY)
    if not isinstance(entry, dict):
        return None
    now = timezone.now()
    row = None
    if isinstance(entry.get("until"), int | float) and now.timestamp() < entry["until"]:
        row = _valid(now).filter(pk=entry.get("pk")).first()
    if row is None:
        del request.session[SESSION_KEY]
    return row


def session_forget(request):
    """Drop the hand-off (the booking is made, the person leaves)."""
    request.session.pop(SESSION_KEY, None)


def code_url(code):
    """The public address that opens a code (`/r/<code>/`, outreach's entry point), absolute
    for messages and QR codes: the one definition every sender uses."""
    from django.conf import settings
    from django.urls import reverse

    return settings.SITE_URL + reverse("outreach:code_entry", args=[code])
