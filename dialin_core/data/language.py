"""The language of a data set, detected once at ingest and stored with it.

Which embedder can read the text, how names are written and how keyword names find words all depend on
it, and a contact centre's files rarely say. py3langid (a maintained fork of langid.py, its model shipped in
the package, 97 languages) labels each utterance of a sample; the data set's language is the most common
label. Utterances are short, so one of them is easily misread (a Chinese request read as Wu or Cantonese, an
English "ok" as anything); the vote over many is not. Chinese variants count as Chinese: the embedder,
the names and the word segmentation treat them alike.
"""

from collections import Counter
from collections.abc import Sequence

import numpy as np

SAMPLE = 400  # utterances voted on: enough for a stable majority, a fraction of a second
UNDETERMINED = "und"  # ISO 639-2 for "no text to tell"
# langid's labels for varieties that are written with the same Han characters as Mandarin
CHINESE_VARIANTS = frozenset({"zh", "wuu", "yue"})
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ja": "Japanese", "ko": "Korean", "ru": "Russian", "ar": "Arabic", "tr": "Turkish", "pl": "Polish",
    "sv": "Swedish", "hi": "Hindi", "vi": "Vietnamese", "th": "Thai", "id": "Indonesian", UNDETERMINED: "undetermined",
}


def utterance_language(text: str) -> str:
    """langid's label for one text, Chinese varieties as "zh"."""
    from py3langid.langid import classify  # loads its model on first use: only when a data set is ingested

    label = classify(text)[0]
    return "zh" if label in CHINESE_VARIANTS else label


def language_sample(n: int, seed: int = 0) -> list[int]:
    """The positions, in order, of the texts `detect_language` votes with among `n`: all of them up to SAMPLE, else a
    seeded sample, so a caller holding a million texts in a table fetches only these."""
    if n <= SAMPLE:
        return list(range(n))
    return sorted(map(int, np.random.default_rng(seed).choice(n, SAMPLE, replace=False)))


def detect_language(texts: Sequence[str], seed: int = 0) -> str:
    """The ISO 639-1 code most utterances of a seeded sample are written in; "und" for no text."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        return UNDETERMINED
    texts = [texts[i] for i in language_sample(len(texts), seed)]
    return Counter(utterance_language(t) for t in texts).most_common(1)[0][0]


def reads_as_english(code: str | None) -> bool:
    """English, or a language nobody could tell (no text, or not yet detected): both get the English defaults."""
    return code in (None, "en", UNDETERMINED)


def taught_language(code: str | None) -> str:
    """The language a model taught on text in `code` counts as taught on: "en" for English and for text nobody
    could tell (it gets the English defaults), the code itself otherwise."""
    return "en" if code is None or reads_as_english(code) else code


def language_name(code: str | None) -> str:
    """"Chinese (zh)" for a code; the code alone for a language this table does not name."""
    if not code:
        return "not detected"
    return f"{LANGUAGE_NAMES[code]} ({code})" if code in LANGUAGE_NAMES else code
