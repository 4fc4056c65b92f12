from __future__ import annotations

import pytest

from safety.normalize import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ｎｕｄｅ ｗｏｍａｎ", "nude woman"),  # full-width forms
        ("nu\u200bd\u200ce", "nude"),  # zero-width space / non-joiner
        ("nu\u00adde", "nude"),  # soft hyphen
        ("nudе", "nude"),  # Cyrillic е
        ("ѕех", "sex"),  # all-Cyrillic look-alike word
        ("Ηello", "hello"),  # Greek capital eta looks like H
        ("n4k3d", "naked"),
        ("b00bs", "boobs"),
        ("$ex", "sex"),
        ("n.u.d.e", "nude"),
        ("n u d e", "nude"),
        ("s-e-x", "sex"),
        ("N_A_K_E_D", "naked"),
        ("nuuuuude", "nuude"),
        ("NÜDE", "nude"),  # accents
        ("desnúda", "desnuda"),
        ("self-harm", "self harm"),
        ("nu.de", "nude"),
    ],
)
def test_primary_form(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(
    ("raw", "variant"),
    [
        ("nuuuuude", "nude"),  # stretched letters collapse to one in a variant
        ("kiiiill", "kill"),
        ("ki11 him", "kill him"),  # trailing digits decoded only in the aggressive variant
        ("k1ll", "kill"),
        ("a n a k e d girl", "a naked girl"),  # one-letter article kept apart
        ("@ss", "ass"),
    ],
)
def test_variants_cover_ambiguous_readings(raw: str, variant: str) -> None:
    assert variant in normalize(raw).variants


@pytest.mark.parametrize(
    "benign",
    ["a 4k 3d render, 35mm, 7th floor", "covid19 test kit", "mp3 player", "1970 Dodge Charger"],
)
def test_units_and_names_are_not_leet(benign: str) -> None:
    assert normalize(benign).text == benign.lower()


def test_tokens() -> None:
    assert normalize("The  n.u.d.e, photo!").tokens == ["the", "nude", "photo"]


def test_real_foreign_words_are_left_alone() -> None:
    # Russian words with letters that have no Latin twin are not "confusables".
    assert normalize("голая женщина").text == "голая женщина"
