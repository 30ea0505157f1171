"""ASR accuracy: standard text normalisation and CER (Chinese) / WER (English) with jiwer."""

from __future__ import annotations

import re
import unicodedata

import jiwer

from qa_pipeline.text import to_simplified

_PUNCT_RE = re.compile(r"[^\w\s']|_", re.UNICODE)
_DIGITS_RE = re.compile(r"\d+")
_ZH_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")


def _spell_numbers(text: str, language: str) -> str:
    """Write numbers as words, as references do ("1, 2, 3" -> "one two three", 12线 -> 一二线).

    Chinese digit strings are read digit by digit (phone numbers, account numbers, 一二线);
    this is the evaluation convention of AISHELL-style references, not a general reader.
    """
    if language == "zh":
        return text.translate(_ZH_DIGITS)
    from num2words import num2words

    return _DIGITS_RE.sub(lambda m: " " + num2words(int(m.group(0))).replace("-", " ").replace(",", "") + " ", text)


def normalize(text: str, language: str) -> str:
    """Lower-case, NFKC (full-width -> half-width), Traditional -> Simplified, numbers spelled, no punctuation.

    Chinese comes back as space-free characters (for CER); English as single-spaced words.
    """
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    text = _spell_numbers(text, language)
    text = _PUNCT_RE.sub(" ", text)
    if language == "zh":
        return "".join(text.split())
    return " ".join(text.replace("'", "").split())


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    """CER for Chinese, WER for English, after :func:`normalize`."""
    ref, hyp = normalize(reference, language), normalize(hypothesis, language)
    if language == "zh":
        return float(jiwer.cer(ref, hyp))
    return float(jiwer.wer(ref, hyp))
