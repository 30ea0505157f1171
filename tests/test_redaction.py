"""PII redaction: validators, spoken digit forms, word-level masking, false positives.

Every ID and card number here is generated from the algorithms (with an
implementation independent of the module's), never a real person's number.
"""

from __future__ import annotations

import gc
import itertools
import random
import time
from dataclasses import replace

import pytest

from qa_pipeline.records import Role, Transcript, Utterance, Word
from qa_pipeline.redaction import (
    ALL_KINDS,
    BANK_CARD,
    CN_ID,
    EMAIL,
    PHONE,
    SSN,
    RedactedSpan,
    Redactor,
    cn_id_check_char,
    is_valid_cn_id,
    is_valid_ssn,
    luhn_check_digit,
    luhn_valid,
)

R = Redactor()
M = "＊"
CN_WORDS = dict(zip("0123456789", "零一二三四五六七八九"))
EN_WORDS = dict(zip("0123456789", ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]))


# --------------------------------------------------------------------------- generators (independent)


def _id_check(first17: str) -> str:
    # GB 11643-1999: weight of position i (1-based from the left) is 2**(18-i) mod 11.
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


def make_id(rng: random.Random, *, check: str | None = None) -> str:
    """A synthetic, well-formed ID; with ``check`` given, loop until it is that char."""
    while True:
        first17 = "3301" + f"{rng.randrange(100):02d}" + f"{rng.randrange(1950, 2005)}"
        first17 += f"{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
        c = _id_check(first17)
        if check is None or c == check:
            return first17 + c


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def make_card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if _luhn_ok(body + d))


def bad_luhn(number: str) -> str:
    last = str((int(number[-1]) + 1) % 10)
    return number[:-1] + last


def cn(digits: str) -> str:
    return "".join(CN_WORDS.get(d, d) for d in digits)


def en(digits: str) -> str:
    return " ".join(EN_WORDS[d] for d in digits)


def utt_from_words(pieces: list[str], start: float = 10.0, step: float = 0.5, uid: str = "u1") -> Utterance:
    words = tuple(Word(start + i * step, start + (i + 1) * step, p, 0.9) for i, p in enumerate(pieces))
    text = "".join(pieces).lstrip()
    return Utterance(uid, Role.CUSTOMER, 1, start, start + len(pieces) * step, text, words)


def masked_only(original: str, masked: str, start: int, end: int) -> bool:
    """Exactly the alphanumerics of original[start:end] are masked, nothing else."""
    if len(original) != len(masked):
        return False
    for i, (a, b) in enumerate(zip(original, masked)):
        inside = start <= i < end and a.isalnum()
        if (b == M) != inside or (not inside and a != b):
            return False
    return True


RNG = random.Random(11643)
ID_A = make_id(RNG)
ID_X = make_id(RNG, check="X")
CARD_CN = make_card(RNG, "62", 19)
CARD_VISA = make_card(RNG, "4", 16)
CARD_AMEX = make_card(RNG, "37", 15)


# --------------------------------------------------------------------------- validators


def test_id_check_char_matches_the_standard_weights() -> None:
    rng = random.Random(1)
    for _ in range(300):
        first17 = "".join(str(rng.randrange(10)) for _ in range(17))
        assert cn_id_check_char(first17) == _id_check(first17)
    assert is_valid_cn_id(ID_A) and is_valid_cn_id(ID_X) and is_valid_cn_id(ID_X.lower())


def test_id_invalid_forms() -> None:
    wrong = ID_A[:17] + ("0" if ID_A[17] != "0" else "1")
    assert not is_valid_cn_id(wrong)
    bad_date = ID_A[:10] + "1332" + ID_A[14:17]
    assert not is_valid_cn_id(bad_date + _id_check(bad_date))
    bad_region = "9" + ID_A[1:17]
    assert not is_valid_cn_id(bad_region + _id_check(bad_region))
    assert not is_valid_cn_id(ID_A[:17])


def test_luhn_matches_independent_implementation() -> None:
    rng = random.Random(2)
    for _ in range(300):
        n = "".join(str(rng.randrange(10)) for _ in range(rng.randrange(13, 20)))
        assert luhn_valid(n) == _luhn_ok(n)
        assert _luhn_ok(n[:-1] + luhn_check_digit(n[:-1]))
    assert luhn_valid(CARD_CN) and not luhn_valid(bad_luhn(CARD_CN))


def test_ssn_area_group_serial_rules() -> None:
    assert is_valid_ssn("123456789")
    for bad in ("000456789", "666456789", "912456789", "123006789", "123450000", "12345678"):
        assert not is_valid_ssn(bad)


# --------------------------------------------------------------------------- Chinese


@pytest.mark.parametrize(
    "text, number",
    [
        ("我的手机号是13812345678，对", "13812345678"),
        ("手机138-1234-5678", "138-1234-5678"),
        ("电话 138 1234 5678 谢谢", "138 1234 5678"),
        ("号码是一三八一二三四五六七八", "一三八一二三四五六七八"),
        ("幺三八幺二三四五六七八", "幺三八幺二三四五六七八"),
        ("打一五九两两三四五六七八吧", "一五九两两三四五六七八"),
        ("是138一二三四5678吗", "138一二三四5678"),
        ("一三八，一二三四，五六七八", "一三八，一二三四，五六七八"),
        ("一三八杠一二三四杠五六七八", "一三八杠一二三四杠五六七八"),
        ("+86 13812345678", "86 13812345678"),
        ("１３８１２３４５６７８", "１３８１２３４５６７８"),
    ],
)
def test_chinese_mobile_forms(text: str, number: str) -> None:
    masked, spans = R.redact_text(text)
    start = text.index(number)
    assert spans == (RedactedSpan(PHONE, start, start + len(number)),)
    assert masked_only(text, masked, start, start + len(number))


def test_phone_followed_by_classifier_is_not_swallowed() -> None:
    text = "一三八一二三四五六七八两个号码都行"
    masked, spans = R.redact_text(text)
    assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(PHONE, 0, 11)]
    assert masked.endswith("两个号码都行")


@pytest.mark.parametrize("form", ["arabic", "chinese", "spaced", "x_lower", "digit_spaced"])
def test_cn_id_forms(form: str) -> None:
    number = {
        "arabic": ID_A,
        "chinese": cn(ID_A),
        "spaced": f"{ID_A[:6]} {ID_A[6:14]} {ID_A[14:]}",
        "x_lower": ID_X[:17] + "x",
        "digit_spaced": " ".join(ID_X),
    }[form]
    text = f"好的，{number}，是这个"
    masked, spans = R.redact_text(text)
    assert [(s.kind, s.validated) for s in spans] == [(CN_ID, True)]
    assert (spans[0].start_char, spans[0].end_char) == (3, 3 + len(number))
    assert masked_only(text, masked, 3, 3 + len(number))


def test_cn_id_spoken_with_chinese_digits_and_x() -> None:
    text = f"身份证是{cn(ID_X[:17])}叉"
    masked, spans = R.redact_text(text)
    assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(CN_ID, 4, 22)]
    assert masked == "身份证是" + M * 18


def _invalid_id_failing_luhn() -> str:
    for c in "0123456789X":
        candidate = ID_A[:17] + c
        if c != ID_A[17] and not _luhn_ok(candidate.replace("X", "0")):
            return candidate
    raise AssertionError("unreachable")


def test_invalid_id_check_digit_is_not_redacted_without_cue() -> None:
    bad = _invalid_id_failing_luhn()
    text = f"编号{bad}已登记"
    assert R.redact_text(text) == (text, ())


def test_invalid_id_near_cue_is_redacted_unvalidated() -> None:
    bad = _invalid_id_failing_luhn()
    text = f"身份证号码是{bad}"
    masked, spans = R.redact_text(text)
    assert [(s.kind, s.validated, s.start_char, s.end_char) for s in spans] == [(CN_ID, False, 6, 24)]
    assert masked == text[:6] + M * 18


@pytest.mark.parametrize("number", [CARD_CN, CARD_VISA, CARD_AMEX])
def test_bank_cards_with_luhn(number: str) -> None:
    for form in (number, cn(number), " ".join(number[i : i + 4] for i in range(0, len(number), 4))):
        text = f"扣款用的是{form}。"
        masked, spans = R.redact_text(text)
        assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(BANK_CARD, 5, 5 + len(form))]
        assert masked_only(text, masked, 5, 5 + len(form))


def test_invalid_luhn_is_not_a_card() -> None:
    bad = bad_luhn(CARD_CN)
    text = f"流水号{bad}"
    assert R.redact_text(text) == (text, ())
    # Partially heard / misheard card number right after a cue word: relaxed rule.
    _, spans = R.redact_text(f"卡号是{bad}")
    assert [(s.kind, s.validated) for s in spans] == [(BANK_CARD, False)]


def test_partial_phone_near_cue_is_redacted() -> None:
    _, spans = R.redact_text("手机号一三八一二三四五六七")  # ten digits heard
    assert [(s.kind, s.validated, s.start_char, s.end_char) for s in spans] == [(PHONE, False, 3, 13)]


def test_no_window_slides_over_a_digit_by_digit_number() -> None:
    # An invalid 18-digit number read digit by digit contains a valid-looking
    # mobile (199 0010 1123); it must not be cut out of the longer number.
    text = "编号 3 3 0 1 0 6 1 9 9 0 0 1 0 1 1 2 3 4"
    assert R.redact_text(text) == (text, ())
    _, spans = R.redact_text("1 3 8 1 2 3 4 5 6 7 8, 4 1 2 3")
    assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(PHONE, 0, 21)]


def test_landline_near_cue_but_not_a_date() -> None:
    _, spans = R.redact_text("家里电话 010-8888 6666")
    assert [(s.kind, s.validated) for s in spans] == [(PHONE, False)]
    text = "电话里约的是2026-11-22 13:45"
    assert R.redact_text(text) == (text, ())


def test_two_numbers_in_one_run_are_found_separately() -> None:
    text = f"工号1023，电话13812345678，卡{CARD_VISA}"
    _, spans = R.redact_text(text)
    assert [(s.kind, text[s.start_char : s.end_char]) for s in spans] == [
        (PHONE, "13812345678"),
        (BANK_CARD, CARD_VISA),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "我的工号一零二三，请记录",
        "工号是1023",
        "一共三百块，两千五百元",
        "2026年11月22日下午三点",
        "二零二六年十一月，十二点半",
        "十二点到一点之间",
        "国家电网客服电话95598，移动是10086",
        "验证码是4321，四位数",
        "卡号后四位是一二三四",
        "客服电话400-820-8820",
        "您有一个订单，两个包裹，一下就好",
        "房间号三零一，楼层三楼",
        "the total is one hundred and twenty five dollars",
        "press one for English, two for Chinese",
        "call us at 1-800-555-0100 any time",
        "your code is four three two one",
    ],
)
def test_non_pii_numbers_survive(text: str) -> None:
    assert R.redact_text(text) == (text, ())


# --------------------------------------------------------------------------- English


def test_english_spoken_card() -> None:
    number = CARD_VISA
    text = f"sure, it's {en(number)}, thanks"
    masked, spans = R.redact_text(text)
    start = text.index(EN_WORDS[number[0]])
    end = start + len(en(number))
    assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(BANK_CARD, start, end)]
    assert masked_only(text, masked, start, end)


def test_english_double_and_oh() -> None:
    number = "4" + "55" + "0" + "1111" + "2222" + "333"  # 15 digits -> make it Luhn-valid below
    number = number[:15] + luhn_check_digit(number[:15])
    words = " ".join(EN_WORDS[d] for d in number[:1]) + " double five oh " + " ".join(EN_WORDS[d] for d in number[4:])
    text = f"my card is {words}"
    _, spans = R.redact_text(text)
    assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(BANK_CARD, 11, len(text))]


def test_ssn_grouped_and_cued() -> None:
    masked, spans = R.redact_text("SSN is 123-45-6789.")
    assert masked == "SSN is ＊＊＊-＊＊-＊＊＊＊." and spans[0].kind == SSN
    _, spans = R.redact_text("one two three, four five, six seven eight nine")
    assert [s.kind for s in spans] == [SSN]
    _, spans = R.redact_text(f"my social security number is {en('123456789')}")
    assert [(s.kind, s.validated) for s in spans] == [(SSN, True)]


@pytest.mark.parametrize("number", ["666-45-6789", "912-45-6789", "000-45-6789", "123-00-6789", "123-45-0000"])
def test_invalid_ssn_not_redacted(number: str) -> None:
    text = f"reference {number}"
    assert R.redact_text(text) == (text, ())


def test_ungrouped_nine_digits_without_cue_is_not_ssn() -> None:
    text = "order 123456789 shipped"
    assert R.redact_text(text) == (text, ())


def test_us_mobile_like_ten_digits_near_phone_cue() -> None:
    _, spans = R.redact_text("my phone number is 415 555 0123")
    assert [(s.kind, s.validated) for s in spans] == [(PHONE, False)]


# --------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    "text, address",
    [
        ("邮箱是zhang.san@example.com，谢谢", "zhang.san@example.com"),
        ("qq邮箱123456789@qq.com", "123456789@qq.com"),
        ("邮箱zhangsan艾特qq点com", "zhangsan艾特qq点com"),
        ("邮箱幺二三四五六艾特一六三点com", "幺二三四五六艾特一六三点com"),
        ("it's john dot smith at gmail dot com", "john dot smith at gmail dot com"),
    ],
)
def test_emails(text: str, address: str) -> None:
    masked, spans = R.redact_text(text)
    start = text.index(address)
    assert [(s.kind, s.start_char, s.end_char) for s in spans] == [(EMAIL, start, start + len(address))]
    for i in range(start, start + len(address)):
        assert (masked[i] == M) == text[i].isalnum()


def test_written_email_keeps_structure() -> None:
    assert R.redact_text("a.b@example.cn")[0] == "＊.＊@＊＊＊＊＊＊＊.＊＊"


def test_spoken_at_without_mail_host_is_not_email() -> None:
    text = "look at google dot com for details"
    assert R.redact_text(text) == (text, ())


# --------------------------------------------------------------------------- utterances and words


def test_number_split_across_words_masks_each_word_and_times() -> None:
    utt = utt_from_words(["我的", "手机", "是", "138", "1234", "5678", "。"])
    new, spans = R.redact_utterance(utt)
    assert [w.text for w in new.words] == ["我的", "手机", "是", M * 3, M * 4, M * 4, "。"]
    assert new.text == "我的手机是" + M * 11 + "。"
    assert [(w.start, w.end) for w in new.words] == [(w.start, w.end) for w in utt.words]
    (span,) = spans
    assert (span.kind, span.start_char, span.end_char) == (PHONE, 5, 16)
    assert (span.start, span.end) == (11.5, 13.0)
    assert utt.text[span.start_char : span.end_char] == "13812345678"


def test_chinese_digit_words_split_mid_word() -> None:
    utt = utt_from_words(["好的一三八", "一二三四", "五六七八就这个"])
    new, spans = R.redact_utterance(utt)
    assert [w.text for w in new.words] == ["好的" + M * 3, M * 4, M * 4 + "就这个"]
    assert (spans[0].start, spans[0].end) == (10.0, 11.5)


def test_english_words_with_leading_spaces() -> None:
    digits = CARD_VISA
    pieces = [" My", " card", " is"] + [" " + EN_WORDS[d] for d in digits] + [" thanks."]
    utt = utt_from_words(pieces, start=0.0, step=0.25)
    new, spans = R.redact_utterance(utt)
    assert new.text == "".join(w.text for w in new.words).lstrip()
    assert [w.text for w in new.words[:3]] == [" My", " card", " is"]
    assert all(set(w.text.strip()) == {M} for w in new.words[3:-1])
    assert new.words[-1].text == " thanks."
    (span,) = spans
    assert span.kind == BANK_CARD
    assert (span.start, span.end) == (0.75, 0.75 + 0.25 * len(digits))
    assert utt.text[span.start_char : span.end_char] == en(digits)


def test_utterance_without_words_uses_utterance_times() -> None:
    utt = Utterance("u9", Role.CUSTOMER, 1, 3.0, 6.0, "手机13812345678")
    new, spans = R.redact_utterance(utt)
    assert new.text == "手机" + M * 11 and new.words == ()
    assert (spans[0].start, spans[0].end) == (3.0, 6.0)


def test_words_that_disagree_with_text_are_redacted_on_their_own() -> None:
    words = utt_from_words(["手机", "138", "1234", "5678", "。"]).words
    utt = Utterance("u1", Role.CUSTOMER, 1, 10.0, 12.5, "手机 138 1234 5678", words)
    new, spans = R.redact_utterance(utt)
    assert new.text == "手机 ＊＊＊ ＊＊＊＊ ＊＊＊＊" and [s.kind for s in spans] == [PHONE]
    assert [w.text for w in new.words] == ["手机", M * 3, M * 4, M * 4, "。"]
    # ... even when the text itself has nothing to redact.
    quiet = replace(utt, text="嗯")
    new, spans = R.redact_utterance(quiet)
    assert spans == () and new.text == "嗯" and new.words[1].text == M * 3


def test_clean_utterance_is_returned_unchanged() -> None:
    utt = utt_from_words(["您好", "请问", "有什么", "可以帮您"])
    new, spans = R.redact_utterance(utt)
    assert new is utt and spans == ()


def test_transcript_uses_previous_utterance_as_cue_context() -> None:
    partial = ID_A[:15]  # customer trails off: 15 digits, no check digit to validate
    agent = replace(
        utt_from_words(["请问", "您的", "身份证", "号码", "是", "多少", "？"], start=0.0, uid="u1"), role=Role.AGENT
    )
    customer = utt_from_words(["嗯，", cn(partial[:6]), cn(partial[6:])], start=4.0, uid="u2")
    other = utt_from_words(["好的", "工号", "一零二三", "为您", "服务"], start=8.0, uid="u3")
    tr = Transcript("zh", 12.0, (agent, customer, other))
    new, spans = R.redact_transcript(tr)
    assert list(spans) == ["u2"]
    (span,) = spans["u2"]
    assert (span.kind, span.validated, span.start_char, span.end_char) == (CN_ID, False, 2, 17)
    assert new.utterances[1].text == "嗯，" + M * 15
    assert new.utterances[0] is agent and new.utterances[2] is other
    assert tr.utterances[1].text.endswith(cn(partial[6:]))  # the input is untouched
    # Without the agent's question the same digits are not redacted.
    alone, spans_alone = R.redact_transcript(Transcript("zh", 12.0, (customer,)))
    assert spans_alone == {} and alone.utterances[0] is customer


def test_long_question_still_carries_its_cue() -> None:
    question = "麻烦您提供一下您的银行卡号，我这边帮您核实一下账户信息，谢谢您的配合"
    answer = f"好的，{CARD_CN[:12]}，后面的我忘了"
    _, spans = R.redact_text(answer, context=question)
    assert [(s.kind, s.validated, s.start_char, s.end_char) for s in spans] == [(BANK_CARD, False, 3, 15)]
    assert R.redact_text(answer) == (answer, ())
    # A cue only governs the start of the next utterance.
    late = "好的好的，我先看一下，稍等一下啊，我找找看，找到了，就是这一串" + CARD_CN[:12]
    assert R.redact_text(late, context=question) == (late, ())


# --------------------------------------------------------------------------- idempotence, options, performance


IDEMPOTENCE_TEXTS = [
    f"身份证{ID_X}，手机一三八一二三四五六七八，卡号{CARD_CN}，邮箱a.b@qq.com",
    f"card {en(CARD_VISA)}, SSN 123-45-6789, mail john dot smith at gmail dot com",
    f"1023，13812345678 {CARD_VISA}，卡号是{bad_luhn(CARD_CN)}",
]


@pytest.mark.parametrize("text", IDEMPOTENCE_TEXTS)
def test_idempotent(text: str) -> None:
    once, spans = R.redact_text(text)
    assert spans
    assert R.redact_text(once) == (once, ())


def test_idempotent_on_utterances_and_transcripts() -> None:
    utt = utt_from_words(["手机", "138", "1234", "5678", "卡号", CARD_CN[:8], CARD_CN[8:]])
    tr = Transcript("zh", 20.0, (utt,))
    once, spans = R.redact_transcript(tr)
    assert len(spans["u1"]) == 2
    twice, spans2 = R.redact_transcript(once)
    assert twice == once and spans2 == {}


def test_kinds_filter_and_mask_choice() -> None:
    text = f"手机13812345678，卡号{CARD_CN}"
    masked, spans = Redactor(kinds=frozenset({BANK_CARD}), mask="#").redact_text(text)
    assert [s.kind for s in spans] == [BANK_CARD]
    assert masked == "手机13812345678，卡号" + "#" * len(CARD_CN)
    assert Redactor().kinds == ALL_KINDS


@pytest.mark.parametrize(
    "kwargs", [{"mask": "XX"}, {"mask": "a"}, {"mask": " "}, {"mask": "-"}, {"kinds": frozenset({"passport"})}]
)
def test_invalid_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Redactor(**kwargs)  # type: ignore[arg-type]


def test_invariants_on_random_mixtures() -> None:
    """Length kept, words still join to the text, spans ordered and disjoint, idempotent."""
    atoms = [
        *"0123456789一二三四五六七八九零幺两叉Xx ,-，、.@的是个百",
        "one",
        "oh",
        "double",
        " at ",
        "gmail",
        " dot ",
    ]
    atoms += ["com", "艾特", "点", "qq", "手机", "身份证", "卡号", "card", "SSN", ID_A[:9], CARD_VISA[:8], "138"]
    rng = random.Random(5)
    for _ in range(400):
        pieces = ["".join(rng.choice(atoms) for _ in range(rng.randrange(1, 6))) for _ in range(rng.randrange(1, 12))]
        context = rng.choice(["", "请问您的身份证号码", "what's your card number?"])
        utt = utt_from_words(pieces)
        new, spans = R.redact_utterance(utt, context=context)
        assert len(new.text) == len(utt.text)
        assert "".join(w.text for w in new.words).lstrip() == new.text
        assert all(0 <= sp.start_char < sp.end_char <= len(utt.text) for sp in spans)
        assert all(a.end_char <= b.start_char for a, b in itertools.pairwise(spans))
        assert R.redact_utterance(new, context=context) == (new, ())


def test_long_and_adversarial_text_scales_linearly() -> None:
    """Redaction cost grows with the text, not with its square (no backtracking blow-up on digit
    runs, "dot" chains or Hanzi digits). A ratio of two sizes measured back to back, so the machine's
    load cancels out; absolute speed is benchmarked, not asserted here. CPU of this thread only
    (``thread_time``): under pytest-xdist the worker process may hold other tests' threads (a live
    server, model thread pools) whose CPU ``process_time`` would count."""
    chunk = f"您好，手机13812345678，工号一零二三，卡号{CARD_CN}，三百块。"

    def run(k: int) -> float:
        text = chunk * (500 * k) + "a dot " * (1250 * k) + "1 " * (1250 * k) + "一" * (1250 * k)
        gc.collect()
        gc.disable()  # the worker's heap (other tests' models and results) is not redaction's cost
        try:
            t0 = time.thread_time()
            masked, spans = R.redact_text(text)
            elapsed = time.thread_time() - t0
        finally:
            gc.enable()
        assert len(masked) == len(text) and len(spans) == 1000 * k
        return elapsed

    run(1)  # warm caches
    small, big = min(run(1) for _ in range(2)), min(run(4) for _ in range(2))
    assert big < 8 * small + 0.2, f"4x the text took {big / small:.1f}x the CPU (linear: ~4x, quadratic: ~16x)"


@pytest.mark.parametrize(
    "question, kind",
    [("好的，请再提供一下基础的身份正号码。", "cn_id"), ("请说一下您的银行咖号", "bank_card"), ("您的收鸡号是多少", "phone")],
)
def test_cue_words_heard_as_homophones_still_govern_the_answer(question: str, kind: str) -> None:
    """ASR writes cue words with homophones (身份正, 银行咖, 收鸡): matched by toneless pinyin."""
    masked, spans = Redactor().redact_text("三三零一零六一九八五零三一二", context=question)
    assert [s.kind for s in spans] == [kind] and "三" not in masked
