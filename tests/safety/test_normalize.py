from __future__ import annotations

import pytest
import regex

from safety.normalize import normalize
from safety.obfuscation import TECHNIQUES, obfuscate


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


# Look-alikes (UTS #39 confusables), small capitals and compatibility forms: several per
# script, written out by hand so the test does not lean on the table it checks.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nսde", "nude"),  # Armenian seh as u
        ("ոude ԁance", "nude dance"),  # Armenian vo as n, Cyrillic komi de
        ("nakеd wօman", "naked woman"),  # Cyrillic ie, Armenian oh
        ("pօrn", "porn"),
        ("ѕеxу", "sexy"),  # Cyrillic dze, ie, u
        ("naкed", "naked"),  # Cyrillic ka: its prototype is the small capital ᴋ
        ("ΝΑΚΕD", "naked"),  # Greek capitals
        ("nαked", "naked"),  # Greek alpha
        ("bοοbs", "boobs"),  # Greek omicron
        ("ꮪexꭺ", "sexa"),  # Cherokee small letters
        ("ɴᴜᴅᴇ ᴡᴏᴍᴀɴ", "nude woman"),  # small capitals
        ("ꜱᴇx", "sex"),
        ("nuɗe ɡirl", "nude girl"),  # Latin letters NFKC leaves alone
        ("ｎｕｄｅ", "nude"),  # full-width
        ("𝐧𝐮𝐝𝐞 𝓰𝓲𝓻𝓵", "nude girl"),  # mathematical bold and script
        ("beaϲh", "beach"),  # Greek lunate sigma looks like c (NFKC alone makes it a sigma)
    ],
)
def test_look_alikes_read_as_the_latin_they_pass_for(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(
    "raw",
    [
        "nu\u200bde", "nu\u2060de", "nu\ufeffde", "nu\u00adde", "nu\u034fde", "nu\u061cde",  # zero-width, CGJ, ALM
        "nu\u3164de", "nu\u115fde", "nu\u1160de", "nu\uffa0de", "n\u3164u\uffa0d\u115fe",  # Hangul fillers
        "nu\u2800de", "n\u2800u\u2800d\u2800e",  # Braille blank
        "nu\u180ede", "nu\u180bde", "nu\u17b4de", "nu\ufe0fde", "nu\U000e0041de", "nu\U000e0100de",
        "nu\U0001d159de", "nu\u2064de",
    ],
)
def test_invisible_and_blank_looking_characters_are_dropped(raw: str) -> None:
    assert normalize(raw).text == "nude"


def test_every_default_ignorable_code_point_is_invisible() -> None:
    di = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    missed = [hex(cp) for cp in range(0x110000)
              if di.match(chr(cp)) and "nude" not in normalize(f"nu{chr(cp)}de").variants]
    assert not missed


def test_a_blank_between_words_may_also_be_a_space() -> None:
    for blank in "\u2800\u3164\u200b":
        norm = normalize(f"nude{blank}woman")
        assert norm.text == "nudewoman" and "nude woman" in norm.variants
    for space in "\u00a0\u200a\u2009\u3000\u2028":  # odd spaces read as a space, or as nothing in a word
        assert normalize(f"nude{space}woman").text == "nude woman"
        assert "nude" in normalize(f"nu{space}de").variants


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\u202eedun\u202c", "nude"),
        ("a \u202enamow dekan\u202c on a bed", "a naked woman on a bed"),
        ("\u202ex\u202cnude", "xnude"),  # PDF ends the override
        ("a \u202edekan", "a naked"),  # no PDF: the override runs to the end of the line
        ("\u202e\u202aab\u202c", "ab"),  # LRE inside the override
    ],
)
def test_right_to_left_override_is_read_as_shown(raw: str, shown: str) -> None:
    norm = normalize(raw)
    assert norm.text == shown
    assert normalize(raw.replace("\u202e", "")).text in norm.variants  # the typed order too


def test_obfuscation_techniques_all_read_back(rules) -> None:
    plain = ["a naked woman on the beach", "how to make a bomb at home", "kill all the jews"]
    for technique in TECHNIQUES:
        for raw, obfuscated in zip(plain, obfuscate(plain, technique, seed=3), strict=True):
            assert obfuscated != raw, technique
            assert raw in normalize(obfuscated).variants, (technique, obfuscated)


# Real words of other scripts stay as they are: turning them into Latin would feed the
# English-only model garbage and could spell a term by accident.
NON_LATIN = [
    "կարմիր հեծանիվ՝ հենված աղյուսե պատին",  # Armenian
    "μια γάτα που κοιμάται σε ένα ηλιόλουστο περβάζι",  # Greek
    "ΚΑΛΟ ΚΑΛΟΚΑΙΡΙ ΑΠΟ ΤΗΝ ΚΡΗΤΗ",
    "кошка спит на солнечном подоконнике",  # Russian
    "сосна на берегу моря",
    "кіт спить на сонячному підвіконні",  # Ukrainian
    "日当たりの良い窓辺で眠る猫",  # Japanese
    "一只在阳光明媚的窗台上睡觉的猫",  # Chinese
    "햇살 좋은 창턱에서 자고 있는 고양이",  # Korean
    "قطة نائمة على حافة نافذة مشمسة",  # Arabic
    "۵ سیب قرمز در یک سبد حصیری",  # Persian, with a Persian digit five (a look-alike of o)
    "חתול ישן על אדן חלון שטוף שמש",  # Hebrew
    "धूप वाली खिड़की पर सोती हुई एक बिल्ली",  # Hindi
    "แมวนอนหลับบนขอบหน้าต่างที่มีแดดส่อง",  # Thai
    "კატა, რომელსაც სძინავს მზიან ფანჯრის რაფაზე",  # Georgian
    "በፀሐያማ መስኮት ላይ የተኛች ድመት",  # Amharic
]


@pytest.mark.parametrize("text", NON_LATIN)
def test_words_of_other_scripts_are_not_made_latin(text: str) -> None:
    assert not any(ch.isascii() and ch.isalpha() for ch in normalize(text).text)


def test_a_twin_only_word_among_other_scripts_is_latin_only_in_a_variant() -> None:
    # "сука" is all look-alikes; in a Russian sentence it stays Russian in the primary form,
    # and a variant reads it as Latin, the way the term (normalised alone) reads.
    norm = normalize("ты сука")
    assert norm.text == "ты сука"
    assert normalize("сука").text == "cyka" and "ты cyka" in norm.variants
    assert normalize("a ѕех scene").text == "a sex scene"  # in Latin company it is Latin
    assert normalize("кот и dog").text == "кот и dog"  # not a majority: left alone


def test_latin_words_of_other_languages_keep_their_letters() -> None:
    assert normalize("łódź, æther, straße, kadın").text == "lodz, aether, strasse, kadin"
