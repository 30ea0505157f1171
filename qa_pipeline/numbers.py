"""Numbers and e-mail addresses in transcripts: spoken-digit tokens, digit groups,
cue words and the hits that :mod:`qa_pipeline.redaction` masks (see its docstring for what each
kind means and where each rule comes from). :mod:`qa_pipeline.number_answers` uses the same
pieces for numbers read over several utterances; the check digits are :mod:`qa_pipeline.checkdigits`."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .checkdigits import is_valid_card, is_valid_cn_id, is_valid_mobile, is_valid_ssn

CN_ID = "cn_id"
PHONE = "phone"
BANK_CARD = "bank_card"
SSN = "ssn"
EMAIL = "email"
ALL_KINDS: frozenset[str] = frozenset({CN_ID, PHONE, BANK_CARD, SSN, EMAIL})
#: Reviewer-facing names of each kind, for tooltips and redaction reports.
KIND_LABELS: Mapping[str, Mapping[str, str]] = {
    CN_ID: {"zh": "身份证号", "en": "ID number"},
    PHONE: {"zh": "手机号", "en": "phone number"},
    BANK_CARD: {"zh": "银行卡号", "en": "card number"},
    SSN: {"zh": "社会安全号", "en": "SSN"},
    EMAIL: {"zh": "邮箱", "en": "e-mail"},
}

#: Characters between the end of a cue word and the first digit it governs.
CUE_WINDOW = 30
#: Characters at the end of the previous utterance searched for cue words.
CONTEXT_CHARS = 60
#: Longest digit string any validator accepts.
_MAX_STRICT = 19
_MAX_RELAXED = 22
_MIN_RELAXED: Mapping[str, int] = {CN_ID: 7, PHONE: 7, BANK_CARD: 7, SSN: 8}
#: Fail-safe: digits answering a number request (cue in the previous utterance, or the answer
#: read in groups over several utterances) are masked from this many on, checksum or not.
FAILSAFE_MIN_DIGITS = 7
#: Utterances of one party read as one number after a request (groups with pauses between).
MAX_ANSWER_UTTERANCES = 8
#: Longest pause between two groups of one number (seconds).
MAX_ANSWER_GAP_S = 12.0
#: An utterance of the other party between two groups is a backchannel when this short (tokens).
MAX_BACKCHANNEL_TOKENS = 6


@dataclass(frozen=True, slots=True)
class RedactedSpan:
    """One redacted stretch: ``text[start_char:end_char]`` of the original utterance."""

    kind: str
    start_char: int
    end_char: int
    start: float | None = None  # seconds, from word timestamps (None for bare text)
    end: float | None = None
    #: False when only the relaxed cue rule matched (no check digit / format passed).
    validated: bool = True


def _classify(digits: str, group_sizes: tuple[int, ...], cue: str | None, kinds: frozenset[str]) -> str | None:
    """The kind a candidate digit string validates as, or None."""
    if CN_ID in kinds and is_valid_cn_id(digits):
        return CN_ID
    if "X" in digits:
        return None
    # 1-800-555-0100 is North American formatting, not a mainland 180x mobile.
    if PHONE in kinds and is_valid_mobile(digits) and group_sizes != (1, 3, 3, 4):
        return PHONE
    if BANK_CARD in kinds and is_valid_card(digits, cued=cue == BANK_CARD):
        return BANK_CARD
    if SSN in kinds and is_valid_ssn(digits) and (group_sizes == (3, 2, 4) or cue == SSN):
        return SSN
    return None


# --------------------------------------------------------------------------- digit tokens

_EN_DIGITS: Mapping[str, str] = {
    "zero": "0", "oh": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_CN_DIGITS: Mapping[str, str] = {
    "零": "0", "〇": "0", "○": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}  # fmt: skip
_CN_DIGIT_CLASS = "".join(_CN_DIGITS)
# A Chinese digit before one of these is a quantity, date or time, not a digit string
# (三百, 两个, 十二点, 一下, 十一月) ...
_CN_UNITS = "十拾百佰千仟万亿点年月日号个只块元角毛分秒岁位下些样直起定般切共次遍天倍半层楼期周"
# ... and so is one after a numeral unit (二十五, 三百零五).
_CN_UNITS_BEFORE = "十拾百佰千仟万亿"
#: 幺 (one) as ASR writes it when it mishears it: only before two more digits (以三九…, 以350…),
#: and not as the second character of a word (可以, 所以, 之以, 难以 ...).
_YAO_VARIANTS = "妖以腰要"
_YAO_WORD_BEFORE = "可所之难得予加足以给用何不重需想还只就"
_EN_WORD = "|".join(sorted(_EN_DIGITS, key=len, reverse=True))
_NOT_LATIN_BEFORE = r"(?<![A-Za-z])"
_NOT_LATIN_AFTER = r"(?![A-Za-z])"

_TOKEN_RE = re.compile(
    rf"(?P<rep>{_NOT_LATIN_BEFORE}(?:double|triple)\s+(?:{_EN_WORD}){_NOT_LATIN_AFTER})"
    rf"|(?P<en>{_NOT_LATIN_BEFORE}(?:{_EN_WORD}){_NOT_LATIN_AFTER})"
    r"|(?P<ar>[0-9０-９])"
    rf"|(?P<cn>(?<![{_CN_UNITS_BEFORE}])[{_CN_DIGIT_CLASS}](?![{_CN_UNITS}]))"
    rf"|(?P<yao>(?<![{_YAO_WORD_BEFORE}])[{_YAO_VARIANTS}](?=[0-9０-９{_CN_DIGIT_CLASS}]{{2}}))"
    rf"|(?P<x>{_NOT_LATIN_BEFORE}[XxＸｘ]{_NOT_LATIN_AFTER}|叉|艾克斯)",
    re.IGNORECASE,
)
#: What may stand between two digit tokens of one run.
_SEP_RE = re.compile(r"[\s\-‐‑–—－,，、.．·杠]{1,3}")  # 杠: a spoken dash


@dataclass(frozen=True, slots=True)
class _Tok:
    digits: str  # "0".."9", "55" for "double five", "X"
    start: int
    end: int
    word: bool  # an English digit word: plain spaces between words do not split groups


@dataclass(frozen=True, slots=True)
class _Group:
    digits: str
    start: int
    end: int
    #: The gap before this group holds punctuation (", ", "-"), not just spaces.
    strong_before: bool = False


def _tokens(text: str) -> Iterable[_Tok]:
    for m in _TOKEN_RE.finditer(text):
        kind, raw = m.lastgroup, m.group(0)
        if kind == "ar":
            yield _Tok(str(int(raw)), m.start(), m.end(), False)
        elif kind == "cn":
            yield _Tok(_CN_DIGITS[raw], m.start(), m.end(), False)
        elif kind == "yao":
            yield _Tok("1", m.start(), m.end(), False)
        elif kind == "en":
            yield _Tok(_EN_DIGITS[raw.lower()], m.start(), m.end(), True)
        elif kind == "rep":
            times, digit = raw.split()
            count = 2 if times.lower() == "double" else 3
            yield _Tok(_EN_DIGITS[digit.lower()] * count, m.start(), m.end(), True)
        else:
            yield _Tok("X", m.start(), m.end(), False)


def _runs(text: str) -> list[list[_Group]]:
    """Digit runs of ``text``, each a list of separator-delimited groups."""
    runs: list[list[list[_Tok]]] = []
    current: list[list[_Tok]] = []
    prev: _Tok | None = None
    count = 0
    for tok in _tokens(text):
        gap = text[prev.end : tok.start] if prev is not None else None
        joinable = gap is not None and (gap == "" or _SEP_RE.fullmatch(gap) is not None)
        if tok.digits == "X":
            # X only ever ends an ID number: keep it after 17+ digits, else drop it.
            if joinable and count >= 17:
                (current[-1] if gap == "" else _new_group(current)).append(tok)
            if current:
                runs.append(current)
            current, prev, count = [], None, 0
            continue
        if not joinable:
            if current:
                runs.append(current)
            current, count = [[tok]], 0
        elif gap == "" or (gap is not None and gap.isspace() and (tok.word or (prev is not None and prev.word))):
            current[-1].append(tok)
        else:
            current.append([tok])
        count += len(tok.digits)
        prev = tok
    if current:
        runs.append(current)
    return [_groups(text, run) for run in runs]


def _groups(text: str, run: list[list[_Tok]]) -> list[_Group]:
    out: list[_Group] = []
    for g in run:
        strong = bool(out) and not text[out[-1].end : g[0].start].isspace()
        out.append(_Group("".join(t.digits for t in g), g[0].start, g[-1].end, strong))
    return out


def _cut_ok(run: list[_Group], k: int) -> bool:
    """May a candidate start (or the previous one end) at group ``k``?

    Not between two one-digit groups split only by spaces ("3 3 0 1 ..."): that
    spacing is how the digits were spoken, and cutting there would slide a
    window over a longer number.
    """
    if k <= 0 or k >= len(run):
        return True
    return run[k].strong_before or len(run[k].digits) > 1 or len(run[k - 1].digits) > 1


def _new_group(current: list[list[_Tok]]) -> list[_Tok]:
    current.append([])
    return current[-1]


# --------------------------------------------------------------------------- cue words

_CUE_PATTERNS: Mapping[str, str] = {
    SSN: r"social\s+security|ssn",
    CN_ID: r"身[份分]证|证件号|身份号|id\s+(?:card|number)|identity\s+card",
    BANK_CARD: r"卡号|银行卡|信用卡|储蓄卡|借记卡|账号|帐号|账户|帐户|card|account\s+number",
    PHONE: r"手机|电话|联系方式|(?<![证件卡户账帐单])号码|phone|mobile|cell|telephone",
}
_CUE_RE = re.compile(
    "|".join(f"(?P<{kind}>{_NOT_LATIN_BEFORE}(?:{pat}))" for kind, pat in _CUE_PATTERNS.items()),
    re.IGNORECASE,
)
#: The Chinese cue words again as toneless pinyin: ASR writes homophones ("身份正号码",
#: "手鸡号"), and a missed cue turns an ID number into a bare digit run.
_SOUND_CUES: Mapping[str, tuple[tuple[str, ...], ...]] = {
    CN_ID: (("shen", "fen", "zheng"), ("zheng", "jian", "hao"), ("shen", "fen", "hao")),
    BANK_CARD: (("ka", "hao"), ("yin", "hang", "ka"), ("xin", "yong", "ka"), ("zhang", "hao"), ("zhang", "hu")),
    PHONE: (("shou", "ji"), ("dian", "hua")),
}
#: Toll-free / service numbers a "phone" cue must not turn into PII (with and without a leading 1).
_SERVICE_PREFIXES = ("400", "800", "888", "877", "866", "855", "844", "833")


@dataclass(frozen=True, slots=True)
class _Cues:
    ends: tuple[int, ...]  # cue end positions in the text (0: a cue in the context)
    kinds: tuple[str, ...]

    def at(self, pos: int) -> str | None:
        """Kind of the nearest cue ending at most CUE_WINDOW chars before ``pos``."""
        i = bisect.bisect_right(self.ends, pos) - 1
        if i >= 0 and pos - self.ends[i] <= CUE_WINDOW:
            return self.kinds[i]
        return None


def _cues(text: str, context: str) -> _Cues:
    """Cue words of ``text``, plus the last one in the context's tail, placed at offset 0.

    A question in the previous utterance ("请问您的身份证号码是多少？") thus
    governs digits in the first CUE_WINDOW characters of the answer, however
    the question went on after the cue word.
    """
    found = [(0, kind) for _, kind in cue_words(context[-CONTEXT_CHARS:])[-1:]]
    found += cue_words(text)
    return _Cues(tuple(e for e, _ in found), tuple(k for _, k in found))


def cue_words(text: str) -> list[tuple[int, str]]:
    """(end offset, kind) of every cue word, written or heard, sorted by position.

    "号码" right after a cue word belongs to it ("身份正号码" is an ID-number cue, not a phone cue).
    """
    heard = _sound_cues(text)
    ends = {end for end, _ in heard}
    written = [
        (m.end(), str(m.lastgroup)) for m in _CUE_RE.finditer(text)
        if not (m.lastgroup == PHONE and m.start() in ends and m.group().endswith("号码"))
    ]
    return sorted({*written, *heard})


def _sound_cues(text: str) -> list[tuple[int, str]]:
    """(end offset, kind) of Chinese cue words written with homophones (toneless pinyin match)."""
    if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return []
    from pypinyin import Style, lazy_pinyin

    # one syllable per character: non-Han characters map to themselves, one by one
    def one_per_char(chars: str) -> Any:  # pypinyin accepts a list here; its annotation says str
        return list(chars)

    syllables = lazy_pinyin(text, style=Style.NORMAL, errors=one_per_char)
    if len(syllables) != len(text):
        return []
    out = []
    for kind, words in _SOUND_CUES.items():
        for word in words:
            for i in range(len(syllables) - len(word) + 1):
                if tuple(syllables[i : i + len(word)]) == word:
                    out.append((i + len(word), kind))
    return out


# --------------------------------------------------------------------------- e-mail

_WRITTEN_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z])"
)
_SPOKEN_CH = rf"[A-Za-z0-9{_CN_DIGIT_CLASS}]"
_SPOKEN_DOT = r"\s*+(?:dot|点|\.)\s*+"
_SPOKEN_EMAIL_RE = re.compile(
    rf"(?<![A-Za-z0-9{_CN_DIGIT_CLASS}])"
    rf"{_SPOKEN_CH}{{1,40}}+(?:\s*+(?:dot|点|\.|underscore|下划线|_)\s*+{_SPOKEN_CH}{{1,40}}+){{0,4}}"
    r"\s*+(?P<at>@|艾特|(?<![A-Za-z])at(?![A-Za-z]))\s*+"
    rf"(?P<host>{_SPOKEN_CH}[A-Za-z0-9{_CN_DIGIT_CLASS}\-]{{0,39}}+)"
    rf"(?:{_SPOKEN_DOT}{_SPOKEN_CH}{{1,40}}+){{0,3}}"
    rf"{_SPOKEN_DOT}(?:com|cn|net|org|edu|gov|io|co|info|biz|me|us|uk|hk|tw){_NOT_LATIN_AFTER}",
    re.IGNORECASE,
)
#: Spoken English "at" is common; only these hosts make it an e-mail address.
_MAIL_HOSTS = frozenset(
    {"gmail", "googlemail", "yahoo", "hotmail", "outlook", "live", "msn", "icloud", "me", "aol",
     "proton", "protonmail", "qq", "foxmail", "163", "126", "yeah", "sina", "sohu", "aliyun", "139"}
)  # fmt: skip


def _email_spans(text: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _WRITTEN_EMAIL_RE.finditer(text)]
    for m in _SPOKEN_EMAIL_RE.finditer(text):
        if m.group("at").lower() == "at" and _host_key(m.group("host")) not in _MAIL_HOSTS:
            continue
        spans.append((m.start(), m.end()))
    return _merge(spans)


def _host_key(host: str) -> str:
    return "".join(_CN_DIGITS.get(ch, ch) for ch in host.lower())


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class _Hit:
    kind: str
    start: int
    end: int
    validated: bool


def _run_hits(run: list[_Group], cues: _Cues, kinds: frozenset[str]) -> list[_Hit]:
    """Validated candidates (greedy, longest first), then the relaxed cue rule on leftovers."""
    hits: list[_Hit] = []
    covered = [False] * len(run)
    i = 0
    while i < len(run):
        if not _cut_ok(run, i):
            i += 1
            continue
        ends: list[int] = []
        total = 0
        for j in range(i, len(run)):
            total += len(run[j].digits)
            if total > _MAX_STRICT:
                break
            if _cut_ok(run, j + 1):
                ends.append(j)
        cue = cues.at(run[i].start)
        match = None
        for j in reversed(ends):
            digits = "".join(g.digits for g in run[i : j + 1])
            sizes = tuple(len(g.digits) for g in run[i : j + 1])
            kind = _classify(digits, sizes, cue, kinds)
            if kind is not None:
                match = (j, kind)
                break
        if match is None:
            i += 1
            continue
        j, kind = match
        hits.append(_Hit(kind, run[i].start, run[j].end, True))
        covered[i : j + 1] = [True] * (j + 1 - i)
        i = j + 1
    for a, b in _uncovered(covered):
        relaxed = _relaxed(run[a : b + 1], cues, kinds)
        if relaxed is not None:
            hits.append(relaxed)
    return hits


def _uncovered(covered: list[bool]) -> Iterable[tuple[int, int]]:
    start = None
    for i, c in enumerate(covered + [True]):
        if not c and start is None:
            start = i
        elif c and start is not None:
            yield start, i - 1
            start = None


def _relaxed(groups: list[_Group], cues: _Cues, kinds: frozenset[str]) -> _Hit | None:
    cue = cues.at(groups[0].start)
    if cue is None or cue not in kinds:
        return None
    digits = "".join(g.digits for g in groups)
    if not _MIN_RELAXED[cue] <= len(digits) <= _MAX_RELAXED:
        return None
    if _is_service_number(digits) or _starts_with_date(groups):
        return None
    return _Hit(cue, groups[0].start, groups[-1].end, False)


def _is_service_number(digits: str) -> bool:
    national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    return len(national) == 10 and national.startswith(_SERVICE_PREFIXES)


def _starts_with_date(groups: list[_Group]) -> bool:
    """2026-11-22 ...: a year, month and day group, not a partly heard number."""
    if len(groups) < 3:
        return False
    year, month, day = (g.digits for g in groups[:3])
    return (
        len(year) == 4
        and year[:2] in ("19", "20")
        and len(month) <= 2
        and len(day) <= 2
        and 1 <= int(month) <= 12
        and 1 <= int(day) <= 31
    )


def _find(text: str, context: str, kinds: frozenset[str]) -> list[_Hit]:
    emails = _email_spans(text) if EMAIL in kinds else []
    hits = [_Hit(EMAIL, s, e, True) for s, e in emails]
    if kinds - {EMAIL}:
        cues = _cues(text, context)
        starts = [s for s, _ in emails]
        for run in _runs(text):
            for hit in _run_hits(run, cues, kinds):
                if not _overlaps(hit, emails, starts):
                    hits.append(hit)
    return sorted(hits, key=lambda h: h.start)


def _overlaps(hit: _Hit, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    i = bisect.bisect_left(starts, hit.end) - 1
    return i >= 0 and spans[i][1] > hit.start


def _mask(text: str, hits: Iterable[_Hit], mask: str) -> str:
    chars = list(text)
    for hit in hits:
        for k in range(hit.start, hit.end):
            if chars[k].isalnum():
                chars[k] = mask
    return "".join(chars)


# --------------------------------------------------------------------------- public API
