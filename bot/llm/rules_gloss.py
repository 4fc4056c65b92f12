"""Word-by-word English for requests in French, Spanish and German (the rules brain's gloss).

A gloss, not a translation: enough for common requests ("dessine un chat noir sur une
plage") to reach the image model in English; unknown words pass through unchanged.
"""

from __future__ import annotations

import re

from bot.llm import rules_lexicon as lex


def gloss(text: str, lang: str) -> str:
    """Word-by-word English for the small glossary; unknown words are kept as written."""
    nouns, adjectives = lex.GLOSS_NOUNS[lang], lex.GLOSS_ADJECTIVES[lang]
    function_words = lex.GLOSS_WORDS[lang]
    out: list[tuple[str, str]] = []  # (english, role)
    for raw in re.split(r"[\s']+", text.strip()):
        word = raw.strip(".,!?¡¿").lower()
        if not word:
            continue
        if word in function_words:
            if function_words[word]:
                out.append((function_words[word], "function"))
        elif word in nouns:
            out.append((nouns[word], "noun"))
        elif (adj := _adjective(word, adjectives, lang)) is not None:
            out.append((adj, "adjective"))
        else:
            out.append((raw.strip(".,!?¡¿"), "other"))
    if lang in lex.ADJECTIVE_AFTER_NOUN:
        for i in range(len(out) - 1):
            if out[i][1] == "noun" and out[i + 1][1] == "adjective":
                out[i], out[i + 1] = out[i + 1], out[i]
    english = " ".join(w for w, _ in out)
    return re.sub(r"\ba (?=[aeiou])", "an ", english)


def _adjective(word: str, table: dict[str, str], lang: str) -> str | None:
    if word in table:
        return table[word]
    if lang == "de":  # German inflects adjectives: rote, roten, roter, rotes, rotem
        for ending in ("en", "er", "es", "em", "e"):
            if word.endswith(ending) and word[: -len(ending)] in table:
                return table[word[: -len(ending)]]
    return None
