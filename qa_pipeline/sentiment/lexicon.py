"""Cue phrases for service warmth and conversational mood, Chinese and English.

Apologies and empathy are *their own signals*: a review-trained sentiment model reads
"非常抱歉给您带来不便" as negative, so these formulas are masked out of the text before
sentiment scoring (:func:`mask_politeness`) and counted by the warmth scorer instead.

Every list is a :class:`~qa_pipeline.scoring.phrases.PhraseSet` source, so matching is
token based, homophone tolerant for Chinese, and yields evidence spans.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..records import Utterance
from ..scoring.phrases import PhraseMatch, PhraseSet

# --- agent: greeting, respectful address -------------------------------------------
GREETING = (
    "您好", "很高兴为您服务", "有什么可以帮您", "请问有什么可以帮您",
    "thank you for calling", "thanks for calling", "how can i help you", "how may i help you",
    "good morning", "good afternoon", "good evening", "my name is",
    "how may i assist", "how can i assist", "welcome to", "you've reached", "what can i do for you",
    "为您服务", "欢迎致电", "感谢您致电",
)
RESPECTFUL = (
    "您", "先生", "女士", "小姐", "阿姨", "叔叔", "请", "请问", "麻烦您",
    "please", "sir", "madam", "ma'am", "mr", "mrs", "ms", "miss", "could you", "may i", "thank you", "you're welcome",
)
# --- agent: apology / empathy / soothing ----------------------------------------------
APOLOGY = (
    "抱歉", "对不起", "不好意思", "道歉", "给您带来不便", "给您带来了不好的体验", "表示歉意",
    "sorry", "apologize", "apologise", "apologies", "my apologies",
)
EMPATHY = (
    "理解您", "我理解", "您先别着急", "别着急", "您别急", "请您放心", "您放心", "辛苦您了", "让您久等了",
    "感谢您的耐心等待", "我马上帮您查", "马上帮您",
    "i understand", "completely understand", "understand how", "how frustrating", "i can imagine",
    "sorry to hear", "i know how", "thank you for your patience", "don't worry", "right away",
)
# --- agent: cold forms -----------------------------------------------------------------
RHETORICAL = (  # 反问
    "你听不懂吗", "听不懂吗", "你不知道吗", "我怎么知道", "不是跟你说了吗", "你没看到吗", "你自己不会看吗",
    "what do you want me to do", "didn't i just tell you", "are you listening", "don't you understand",
)
HURRYING = (  # 催促
    "快点", "说重点", "您先说户号", "你先说", "right right", "您先把户号告诉我", "你到底要干什么", "就这样吧", "什么事",
    "hurry up", "get to the point", "make it quick", "yeah what is it", "what is it",
)
BLAMING = (  # 推诿 / blaming the customer
    "你自己开通", "你自己", "跟你说了多少遍", "不归我管", "随便你", "不是我的问题", "这是你的问题",
    "not my problem", "not my department", "you people", "calm down", "whatever", "i don't care", "call back tomorrow",
    "your fault", "you should have",
)
# --- agent: proactive extra help, closing offer, warm close ------------------------------
PROACTIVE = (
    "为您申请", "为您安排", "帮您安排", "已经发到您的账户", "如果到时候", "您可以再拨打",
    "我马上为您", "为了表示歉意", "我也帮您", "顺便帮您", "我们会安排师傅",
    "i have also added", "i have added", "to make up for it", "i've added", "let me look into it", "i'll also",
    "credit of", "free data",
)
CLOSING_OFFER = (
    "还有其他可以帮您的吗", "还有什么可以帮您", "还有其他问题吗",
    "anything else i can help you with", "is there anything else", "anything else i can do",
)
WARM_CLOSE = (
    "祝您生活愉快", "祝您", "感谢您的来电", "感谢来电",
    "have a great day", "have a nice day", "have a good day", "thank you for calling",
    "have a wonderful day", "have a lovely day", "have a good one", "take care", "thanks for reaching out",
    "thank you for reaching out", "thanks for contacting", "thank you for contacting", "enjoy your day",
    "enjoy the rest of your day", "欢迎再次来电", "祝您工作顺利", "祝您一切顺利",
)
# --- polite formulas masked before sentiment scoring --------------------------------------
POLITE_FORMULAS = APOLOGY + (
    "给您带来这么大的麻烦", "给您带来麻烦", "带来不便", "不便", "麻烦", "别着急",
    "sorry about that", "sorry for the inconvenience", "for the trouble", "frustrating",
)
# --- customer: conversational mood cues ------------------------------------------------------
CUSTOMER_POSITIVE = (  # thanks, relief, praise
    "谢谢", "谢谢你", "感谢", "放心了", "挺好", "太好了", "那还行", "能好", "解决了",
    "thank you", "thanks", "appreciate", "very kind", "great", "works again", "perfect", "wonderful", "full bars", "back now",
    # praise (short positives such as 大雪天还能送，太赞了！ that a shopping-review model misreads)
    "太赞了", "真赞", "点赞", "给力", "贴心", "辛苦了", "真棒", "amazing", "awesome", "brilliant", "impressive", "so helpful", "really helpful",
)
CUSTOMER_NEGATIVE = (  # anger, complaints about the service, threats, resignation, not being heard
    "投诉", "什么态度", "怎么回事", "每次都这么说", "到底", "太差", "态度特别差", "耽误", "没有人来", "希望这次能快一点",
    "我主要是想", "我还想说", "你什么时候跟我说过",
    "ridiculous", "manager", "complaint", "nobody has fixed", "nothing happens", "third time", "you people",
    "i really think", "i just want", "i know it's", "at least",
    # swearing at the service
    "去你妈", "你妈的", "他妈的", "狗屎", "傻逼", "混蛋", "王八蛋", "滚蛋", "垃圾公司", "垃圾服务", "什么玩意", "破公司",
    "fuck", "fucking", "shit", "bullshit", "crap", "screw you", "piss off",
)
CUSTOMER_RESIGNED = (  # giving up on being heard: counts double
    "那好吧", "算了", "行吧", "okay fine", "ok fine", "fine", "whatever",
)
CUSTOMER_PROBLEM = (  # the reason for calling: counts half, it is content more than mood
    "停电", "断网", "没有信号", "多扣", "高了这么多", "受影响", "坏了", "又断",
    "down since", "no signal", "charged twice", "twice as high", "a bit expensive", "is broken", "not working",
)
CUSTOMER_NEUTRAL = (  # inquiries and acknowledgements: mark a turn as matter-of-fact
    "我想问一下", "我想查一下", "我想办理", "我想反映一下", "我明白了", "原来是这样", "我试一下", "好的",
    "i'd like to", "i understand", "let me try", "i will think about it", "okay", "alright",
)
#: turns that carry no mood on their own (numbers read out, "no, that's all", goodbyes)
CONTENT_FREE = re.compile(
    r"^[\s,.，。!！?？、]*(?:(?:no|know|nope|okay|ok|yes|yeah|bye|goodbye|再见|没有了|没有|好的|嗯|是的|对|谢谢|thanks|thank you"
    r"|that's all|that's everything|that is all)[\s,.，。!！?？、]*)+$"
    r"|^(?:[^\d零一二三四五六七八九]{0,6}(?:是|:|：)|it's|it is)?[\d\s零一二三四五六七八九十幺两,.，。-]*$",
    re.IGNORECASE,
)
_DIGITS_READ = re.compile(r"^(?:it's|it is|账号是|户号是|号码是)?[\s,.，。]*(?:(?:zero|one|two|three|four|five|six|seven|eight|nine|oh)[\s,.-]*)+[.。]?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CueSets:
    greeting: PhraseSet
    respectful: PhraseSet
    apology: PhraseSet
    empathy: PhraseSet
    rhetorical: PhraseSet
    hurrying: PhraseSet
    blaming: PhraseSet
    proactive: PhraseSet
    closing_offer: PhraseSet
    warm_close: PhraseSet
    polite: PhraseSet
    customer_positive: PhraseSet
    customer_negative: PhraseSet
    customer_resigned: PhraseSet
    customer_problem: PhraseSet
    customer_neutral: PhraseSet


@functools.lru_cache(maxsize=1)
def default_cues() -> CueSets:
    return CueSets(
        greeting=PhraseSet(GREETING),
        respectful=PhraseSet(RESPECTFUL, fuzzy=False),
        apology=PhraseSet(APOLOGY),
        empathy=PhraseSet(EMPATHY),
        rhetorical=PhraseSet(RHETORICAL),
        hurrying=PhraseSet(HURRYING),
        blaming=PhraseSet(BLAMING),
        proactive=PhraseSet(PROACTIVE),
        closing_offer=PhraseSet(CLOSING_OFFER),
        warm_close=PhraseSet(WARM_CLOSE),
        polite=PhraseSet(POLITE_FORMULAS, fuzzy=False),
        customer_positive=PhraseSet(CUSTOMER_POSITIVE),
        customer_negative=PhraseSet(CUSTOMER_NEGATIVE),
        customer_resigned=PhraseSet(CUSTOMER_RESIGNED),
        customer_problem=PhraseSet(CUSTOMER_PROBLEM),
        customer_neutral=PhraseSet(CUSTOMER_NEUTRAL),
    )


def mask_politeness(utterance: Utterance, cues: CueSets | None = None) -> str:
    """The utterance text with apology/empathy formulas removed (for sentiment scoring)."""
    cues = cues or default_cues()
    spans = sorted((m.char_start, m.char_end) for m in cues.polite.find(utterance))
    text, out, pos = utterance.text, [], 0
    for s, e in spans:
        if s >= pos:
            out.append(text[pos:s])
            pos = e
        else:
            pos = max(pos, e)
    out.append(text[pos:])
    masked = "".join(out).strip(" ,.，。")
    return masked


def is_content_free(text: str) -> bool:
    """True for turns that carry no mood: read-out numbers, a bare "no"/"okay"/"再见"."""
    t = text.strip()
    return not t or bool(CONTENT_FREE.match(t)) or bool(_DIGITS_READ.match(t))


def matches(phrases: PhraseSet, utterance: Utterance) -> list[PhraseMatch]:
    """Non-overlapping matches, longest first (so "你自己开通" wins over "你自己")."""
    found = sorted(phrases.find(utterance), key=lambda m: (-(m.char_end - m.char_start), m.char_start))
    taken: list[tuple[int, int]] = []
    out: list[PhraseMatch] = []
    for m in found:
        if all(m.char_end <= s or m.char_start >= e for s, e in taken):
            taken.append((m.char_start, m.char_end))
            out.append(m)
    return sorted(out, key=lambda m: m.char_start)
