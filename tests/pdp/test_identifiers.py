import datetime
import random

import pytest

from pdp.identifiers import (
    IdentifierError,
    nir_check,
    nir_check_coherence,
    nir_clean,
    nir_format,
    nir_is_temporary,
    nir_key,
    nir_normalize,
    nir_validate,
    siret_format,
    siret_normalize,
    validate_nir,
    validate_siret,
)


def with_key(first13: str) -> str:
    """Append the NIR key, computed independently of the code under test."""
    first13 = first13.replace(" ", "")
    assert len(first13) == 13
    digits = first13.replace("2A", "19").replace("2B", "18")
    return f"{first13}{97 - int(digits) % 97:02d}"


def nir_error(value: str) -> str:
    with pytest.raises(IdentifierError) as exc_info:
        nir_normalize(value)
    return exc_info.value.message


def siret_error(value: str) -> str:
    with pytest.raises(IdentifierError) as exc_info:
        siret_normalize(value)
    return exc_info.value.message


# --- NIR: valid numbers --------------------------------------------------------------


def test_the_test_helper_agrees_with_published_examples():
    assert with_key("2951099126111") == "295109912611193"
    assert with_key("253072B073004") == "253072B07300470"
    assert with_key("253072A073004") == "253072A07300443"


def test_it_accepts_a_regular_nir_with_a_computed_key():
    nir = with_key("1850578006084")
    assert nir_normalize(nir) == nir


def test_the_documentation_sample_has_a_wrong_key():
    # "1 85 05 78 006 084 36" is often quoted as an example, but its key is 91, not 36:
    # 97 - (1850578006084 mod 97) = 97 - 6 = 91.
    assert with_key("1850578006084") == "185057800608491"
    assert nir_error("1 85 05 78 006 084 36") == "Clé du NIR invalide."
    assert nir_normalize("1 85 05 78 006 084 91") == "185057800608491"


def test_it_accepts_spaces_dots_and_dashes_in_input():
    assert nir_normalize(" 1 85 05 78 006 084 91 ") == "185057800608491"
    assert nir_normalize("1.85.05.78.006.084.91") == "185057800608491"
    assert nir_normalize("1-85-05-78-006-084-91") == "185057800608491"
    assert nir_normalize("1\u00a085\u00a005 78 006 084\t91") == "185057800608491"


def test_nir_validate_is_the_same_as_normalize():
    assert nir_validate("1 85 05 78 006 084 91") == "185057800608491"


def test_it_accepts_corsica_2a():
    nir = with_key("253072A073004")
    assert nir_normalize(nir) == nir


def test_it_accepts_corsica_2b():
    nir = with_key("253072B073004")
    assert nir_normalize(nir) == nir


def test_it_accepts_lowercase_corsica_letters():
    assert nir_normalize("2 53 07 2b 073 004 70") == "253072B07300470"


def test_corsica_2a_and_2b_keys_differ_from_plain_digits():
    assert with_key("253072A073004") != with_key("2530719073004")
    assert nir_error("253072A07300470") == "Clé du NIR invalide."


def test_it_accepts_corsica_before_1976_as_department_20():
    nir = with_key("1650720004123")
    assert nir_normalize(nir) == nir


def test_it_accepts_overseas_and_abroad_birth_places():
    for first13 in ("2900397105012", "1880298801034", "1750899352007"):
        nir = with_key(first13)
        assert nir_normalize(nir) == nir


def test_it_accepts_a_temporary_nia_starting_with_7():
    nir = with_key("7850578006084")
    assert nir_normalize(nir) == nir
    assert nir_is_temporary(nir) is True


def test_it_accepts_a_temporary_nia_starting_with_8():
    nir = with_key("8920199352007")
    assert nir_normalize(nir) == nir
    assert nir_is_temporary(nir) is True


def test_a_regular_nir_is_not_temporary():
    assert nir_is_temporary(with_key("1850578006084")) is False
    assert nir_is_temporary(with_key("2850578006084")) is False


@pytest.mark.parametrize("month", ["20", "30", "42", "50", "63", "99"])
def test_it_accepts_pseudo_birth_months_for_incomplete_records(month):
    nir = with_key(f"185{month}78006084")
    assert nir_normalize(nir) == nir


# --- NIR: invalid numbers -------------------------------------------------------------


def test_it_rejects_a_bad_key():
    assert nir_error("185057800608490") == "Clé du NIR invalide."
    assert nir_error("185057800608400") == "Clé du NIR invalide."


@pytest.mark.parametrize(
    "value",
    ["18505780060849", "1850578006084911", "1850578006084", "1 85 05"],
)
def test_it_rejects_a_wrong_length(value):
    assert nir_error(value) == "Le NIR doit comporter 15 caractères (13 + clé)."


@pytest.mark.parametrize("value", ["", "   ", " . - "])
def test_it_rejects_an_empty_value(value):
    assert nir_error(value) == "Le NIR est vide."


@pytest.mark.parametrize(
    "value", ["18505780060849X", "1850578006084é1", "185057800608_91", "185052C00608491"]
)
def test_it_rejects_unexpected_characters(value):
    assert nir_error(value).startswith("Le NIR ne peut contenir que des chiffres")


@pytest.mark.parametrize(
    "value",
    [
        "A85057800608491",  # letter as sex digit
        "18505780A608491",  # letter in the commune
        "1850578006084AB",  # letters in the key
        "18505A200608491",  # "A2" instead of "2A"
        "1850AB780060849",  # letters in the month
        "18505B2006084 91",  # "B2" instead of "2B"
    ],
)
def test_it_rejects_letters_in_wrong_places(value):
    assert nir_error(value).startswith("Le NIR ne peut contenir de lettre qu'au département")


@pytest.mark.parametrize("sex_digit", ["0", "3", "4", "5", "6", "9"])
def test_it_rejects_an_unknown_sex_digit(sex_digit):
    assert nir_error(with_key(f"{sex_digit}850578006084")).startswith(
        "Le premier chiffre du NIR (sexe)"
    )


@pytest.mark.parametrize("month", ["00", "13", "19", "43", "49"])
def test_it_rejects_an_impossible_birth_month(month):
    assert nir_error(with_key(f"185{month}78006084")) == (
        "Le mois de naissance du NIR (4e et 5e chiffres) est invalide."
    )


def test_it_rejects_department_00():
    assert nir_error(with_key("1850500006084")) == (
        "Le lieu de naissance du NIR (6e au 10e caractères) est invalide."
    )


def test_nir_error_is_a_value_error():
    with pytest.raises(ValueError):
        nir_normalize("123")


# --- NIR: formatting --------------------------------------------------------------------


def test_it_formats_a_nir_in_groups():
    assert nir_format("185057800608491") == "1 85 05 78 006 084 91"
    assert nir_format("2 53 07 2b 073 004 70") == "2 53 07 2B 073 004 70"


def test_formatting_an_invalid_nir_raises():
    with pytest.raises(IdentifierError):
        nir_format("1 85 05 78 006 084 36")


# --- NIR: coherence with sex and birth date ---------------------------------------------

MAN_MAY_1985 = "185057800608491"
WOMAN_MAY_1985 = with_key("2850578006084")


@pytest.mark.parametrize("sex", ["1", "M", "H", "m", "h", None])
def test_coherence_accepts_a_matching_man(sex):
    assert nir_check_coherence(MAN_MAY_1985, sex=sex, birth_date=datetime.date(1985, 5, 12)) == []


@pytest.mark.parametrize("sex", ["2", "F", "f"])
def test_coherence_accepts_a_matching_woman(sex):
    assert nir_check_coherence(WOMAN_MAY_1985, sex=sex, birth_date=datetime.date(1985, 5, 12)) == []


@pytest.mark.parametrize("sex", ["2", "F"])
def test_coherence_reports_a_man_declared_as_a_woman(sex):
    problems = nir_check_coherence(MAN_MAY_1985, sex=sex, birth_date=None)
    assert problems == ["Le NIR commence par 1 (homme) alors que le sexe indiqué est féminin."]


@pytest.mark.parametrize("sex", ["1", "M", "H"])
def test_coherence_reports_a_woman_declared_as_a_man(sex):
    problems = nir_check_coherence(WOMAN_MAY_1985, sex=sex, birth_date=None)
    assert problems == ["Le NIR commence par 2 (femme) alors que le sexe indiqué est masculin."]


def test_coherence_reports_a_wrong_birth_year():
    problems = nir_check_coherence(MAN_MAY_1985, sex="M", birth_date=datetime.date(1986, 5, 1))
    assert problems == ["L'année de naissance (1986) ne correspond pas au NIR (année « 85 »)."]


def test_coherence_compares_only_the_last_two_digits_of_the_year():
    assert nir_check_coherence(MAN_MAY_1985, sex=None, birth_date=datetime.date(2085, 5, 1)) == []


def test_coherence_reports_a_wrong_birth_month():
    problems = nir_check_coherence(MAN_MAY_1985, sex="M", birth_date=datetime.date(1985, 6, 1))
    assert problems == ["Le mois de naissance (06) ne correspond pas au NIR (mois « 05 »)."]


def test_coherence_reports_every_problem_at_once():
    problems = nir_check_coherence(MAN_MAY_1985, sex="F", birth_date=datetime.date(1990, 1, 1))
    assert len(problems) == 3


@pytest.mark.parametrize("month", ["20", "42", "50", "99"])
def test_coherence_skips_the_month_for_incomplete_records(month):
    nir = with_key(f"185{month}78006084")
    assert nir_check_coherence(nir, sex="M", birth_date=datetime.date(1985, 6, 1)) == []
    # The year is still checked.
    assert len(nir_check_coherence(nir, sex="M", birth_date=datetime.date(1984, 6, 1))) == 1


@pytest.mark.parametrize("first13", ["7850578006084", "8850578006084"])
def test_coherence_is_skipped_for_a_temporary_nia(first13):
    nir = with_key(first13)
    for sex in ("M", "F"):
        assert nir_check_coherence(nir, sex=sex, birth_date=datetime.date(1970, 1, 1)) == []


def test_coherence_ignores_missing_information():
    assert nir_check_coherence(MAN_MAY_1985, sex=None, birth_date=None) == []
    assert nir_check_coherence(MAN_MAY_1985, sex="", birth_date=None) == []


def test_coherence_on_an_invalid_nir_raises():
    with pytest.raises(IdentifierError):
        nir_check_coherence("1 85 05 78 006 084 36", sex="M", birth_date=None)


# --- SIRET ------------------------------------------------------------------------------


def test_it_accepts_a_valid_siret():
    assert siret_normalize("73282932000074") == "73282932000074"


def test_it_accepts_a_siret_with_spaces():
    assert siret_normalize(" 732 829 320 00074 ") == "73282932000074"
    assert siret_normalize("732\u00a0829\u00a0320\u00a000074") == "73282932000074"


def test_it_rejects_a_siret_failing_the_luhn_check():
    assert siret_error("73282932000079") == "Numéro SIRET invalide (clé de contrôle incorrecte)."


def test_it_rejects_a_siret_whose_siren_is_invalid():
    # The 14 digits pass Luhn but the 9-digit SIREN does not.
    assert siret_error("73282932100007") == "Le SIREN (9 premiers chiffres du SIRET) est invalide."


def test_it_accepts_la_poste_sirets_whose_digit_sum_is_a_multiple_of_5():
    # 3+5+6+0+0+0+0+0+0+0+0+0+0+1 = 15; this number does not pass Luhn.
    assert siret_normalize("356 000 000 00001") == "35600000000001"
    assert siret_normalize("35600000049837") == "35600000049837"


def test_it_accepts_the_la_poste_head_office_which_uses_luhn():
    assert siret_normalize("35600000000048") == "35600000000048"


def test_it_rejects_a_la_poste_siret_whose_digit_sum_is_not_a_multiple_of_5():
    assert siret_error("35600000000002") == "Numéro SIRET invalide (clé de contrôle incorrecte)."


@pytest.mark.parametrize("value", ["7328293200007", "732829320000740", "732 829 320"])
def test_it_rejects_a_siret_with_a_wrong_length(value):
    assert siret_error(value) == "Le SIRET doit comporter 14 chiffres."


@pytest.mark.parametrize("value", ["7328293200007A", "732829320000７4"])
def test_it_rejects_a_siret_with_non_digits(value):
    assert siret_error(value) == "Le SIRET ne doit contenir que des chiffres."


def test_it_rejects_an_empty_siret():
    assert siret_error("  ") == "Le SIRET est vide."


def test_it_formats_a_siret_in_groups():
    assert siret_format("73282932000074") == "732 829 320 00074"


# --- Django validators --------------------------------------------------------------------


def test_the_django_nir_validator_accepts_a_valid_nir():
    assert validate_nir("1 85 05 78 006 084 91") is None


def test_the_django_nir_validator_raises_a_validation_error_in_french():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc_info:
        validate_nir("1 85 05 78 006 084 36")
    assert exc_info.value.messages == ["Clé du NIR invalide."]
    assert exc_info.value.code == "nir_key"


def test_the_django_siret_validator_accepts_a_valid_siret():
    assert validate_siret("732 829 320 00074") is None


def test_the_django_siret_validator_raises_a_validation_error_in_french():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc_info:
        validate_siret("73282932000079")
    assert exc_info.value.messages == ["Numéro SIRET invalide (clé de contrôle incorrecte)."]


# --- Agreement with python-stdnum (our checks are written for speed) ---------------------


def test_the_siret_check_agrees_with_stdnum():
    from stdnum.fr import siret as stdnum_siret

    rng = random.Random(11)
    values = ["35600000000048", "35600000012345", "73282932000074"]
    values += ["".join(rng.choice("0123456789") for _ in range(14)) for _ in range(5000)]
    values += [
        "356000000" + "".join(rng.choice("0123456789") for _ in range(5)) for _ in range(500)
    ]
    accepted = 0
    for value in values:
        try:
            siret_normalize(value)
        except IdentifierError:
            ours = False
        else:
            ours = True
            accepted += 1
        assert ours is stdnum_siret.is_valid(value), value
    assert accepted > 50  # the sample holds valid numbers too


def test_the_nir_check_agrees_with_stdnum_on_the_key():
    from stdnum.fr import nir as stdnum_nir

    rng = random.Random(7)
    for _ in range(3000):
        body = rng.choice("1278") + "".join(rng.choice("0123456789") for _ in range(12))
        body = body[:3] + f"{rng.randint(1, 12):02d}" + body[5:]
        if body[5:7] == "00":
            continue
        if rng.random() < 0.3:
            body = body[:5] + rng.choice(["2A", "2B"]) + body[7:]
        key = (
            stdnum_nir.calc_check_digits(body)
            if rng.random() < 0.7
            else f"{rng.randint(0, 99):02d}"
        )
        value = body + key
        try:
            nir_normalize(value)
        except IdentifierError:
            ours = False
        else:
            ours = True
        assert ours is stdnum_nir.is_valid(value), value


def test_nir_check_normalises_and_lists_the_incoherences_in_one_pass():
    assert nir_check(" " + MAN_MAY_1985, sex="1", birth_date=datetime.date(1985, 5, 12)) == (
        MAN_MAY_1985,
        [],
    )
    number, problems = nir_check(MAN_MAY_1985, sex="F", birth_date=datetime.date(1990, 1, 1))
    assert number == MAN_MAY_1985
    assert problems == nir_check_coherence(
        MAN_MAY_1985, sex="F", birth_date=datetime.date(1990, 1, 1)
    )
    assert len(problems) == 3
    with pytest.raises(IdentifierError):
        nir_check("1 85 05 78 006 084 36")


def test_the_nir_key_agrees_with_stdnum():
    from stdnum.fr import nir as stdnum_nir

    rng = random.Random(3)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(13))
        if rng.random() < 0.3:
            body = body[:5] + rng.choice(["2A", "2B"]) + body[7:]
        assert nir_key(body) == stdnum_nir.calc_check_digits(body), body


# --- The NIR stored by the Assure model, whatever the path ---------------------------------


def test_nir_clean_strips_separators_and_upper_cases_without_checking():
    assert nir_clean(" 2 53 07 2a 073 004 43 ") == "253072A07300443"
    assert nir_clean("1.85.05-78") == "1850578"  # not valid, not checked
    assert nir_clean("253072a07300443") == nir_normalize("253072a07300443")


@pytest.mark.django_db
def test_an_assure_saved_from_any_path_stores_the_normalised_nir():
    from referrals.models import Assure
    from tests.factories import AssureFactory

    corsica = with_key("253072A073004")
    typed = f"{corsica[0]} {corsica[1:3]} {corsica[3:5]} {corsica[5:7].lower()} {corsica[7:]}"
    assure = AssureFactory(nir=typed)  # factories call save()
    assert Assure.objects.get(pk=assure.pk).nir == corsica

    assure.nir = f" {corsica[:7].lower()}.{corsica[7:]}"
    assure.save(update_fields=["nir"])
    assert Assure.objects.get(pk=assure.pk).nir == corsica

    created = Assure.objects.create(nir=" 1 85 05 78 006 084 91", nom_naissance="X", prenoms="Y")
    assert Assure.objects.filter(pk=created.pk, nir="185057800608491").exists()


@pytest.mark.django_db
def test_full_clean_normalises_the_nir_before_validating_it():
    from django.core.exceptions import ValidationError

    from referrals.models import Assure

    assure = Assure(nir="2 53 07 2b 073 004 70", nom_naissance="Durand", prenoms="Anne")
    assure.full_clean()  # 21 characters typed: the length check sees the 15 normalised ones
    assert assure.nir == "253072B07300470"
    assure.nir = "2 53 07 2b 073 004 71"
    with pytest.raises(ValidationError) as exc_info:
        assure.full_clean()
    assert exc_info.value.message_dict["nir"] == ["Clé du NIR invalide."]
