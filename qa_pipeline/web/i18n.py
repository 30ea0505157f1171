"""Message catalogue of the web pages: zh-CN first (the default locale), English second.

A typed catalogue (English message id -> Simplified Chinese) rather than gettext ``.po`` files:
the pages have a few hundred strings and no translators' workflow yet. Templates call
``_("Final score")`` (the per-request translator is in every page's context); item reasons and
flag reasons, which the rubric engine builds as English sentences, are translated at display
time from the engine's known sentence templates (:func:`translate_reason`), so stored results
and their JSON stay unchanged. A raw regular expression never reaches the page.

The locale is a per-user preference kept in the ``qa_lang`` cookie (``/lang/en``, ``/lang/zh-CN``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

DEFAULT_LOCALE = "zh-CN"
LOCALES: tuple[str, ...] = ("zh-CN", "en")
COOKIE = "qa_lang"

Translator = Callable[..., str]
#: flags raised by the engine and the recording checks rather than by a rubric's flag rules
BUILTIN_FLAGS: tuple[str, ...] = (
    "fatal_item", "review_item", "low_score", "no_speech", "truncated",
    "one_sided_audio", "separation_failed", "duplicate_channels", "untranscribed_speech",
)

#: English message id -> zh-CN; ``{name}`` placeholders are filled by the translator.
ZH: Mapping[str, str] = {
    # navigation and common
    "QA review": "质检复核", "Flagged queue": "待复核队列", "Calibration": "校准", "Coaching": "辅导",
    "Search": "搜索", "API": "接口文档",
    "Live": "实时监控", "Live calls": "实时通话监控", "alerts delayed: recognition is behind by": "告警延迟：识别落后",
    "ended": "已结束", "on call": "通话中", "scored": "已评分", "scoring": "评分中", "failed": "失败", "Mood": "情绪",
    "Alerts": "告警", "Live alerts": "实时告警", "State": "状态", "Queue": "队列", "Duration": "时长", "Log out": "退出登录", "Log in": "登录", "Username": "用户名",
    "Password": "密码", "Wrong username or password.": "用户名或密码错误。", "Language": "语言",
    "admin": "管理员", "reviewer": "质检员", "supervisor": "班组长", "agent": "坐席", "customer": "客户",
    "unknown": "未知", "any": "全部", "Filter": "筛选", "CSV": "导出 CSV", "Error": "错误",
    # review states and outcomes
    "unreviewed": "未复核", "in review": "复核中", "reviewed": "已复核", "open": "待处理", "all": "全部",
    "pass": "通过", "fail": "未通过", "na": "不适用", "fatal": "致命项", "accepted": "已接受", "rejected": "已驳回",
    # queue
    "Priority": "优先级", "Call": "通话", "Start": "开始时间", "Agent": "坐席", "Team": "班组",
    "Final score": "最终得分", "Automatic": "自动评分", "Automatic score": "自动评分", "Review": "复核状态",
    "Flags": "标记", "Why flagged": "标记原因", "From": "从", "To": "到", "Flag": "标记", "Score": "得分",
    "Failed item": "未通过项", "No flagged calls match.": "没有符合条件的已标记通话。",
    "{n} calls": "{n} 通", "page {page} of {pages}": "第 {page} / {pages} 页", "← previous": "← 上一页",
    "next →": "下一页 →", "by {who}": "复核人 {who}",
    # call review
    "Call {id}": "通话 {id}", "{s} s": "{s} 秒", "Mark reviewed": "标记为已复核", "PII redacted": "个人信息已脱敏",
    "Swap agent/customer roles": "对调坐席/客户角色", "Not flagged.": "未被标记。",
    "Fatal and failed items": "致命项与未通过项", "Other items": "其他评分项",
    "Timeline": "通话时间轴", "talk": "讲话", "silence": "静音", "overtalk": "抢话", "hold": "保持",
    "evidence": "证据", "alert": "告警", "click to seek": "点击跳转播放",
    "Transcript": "转写文本", "Sentiment": "情绪", "Warmth": "服务温度", "Metrics": "通话指标",
    "Sub-score": "分项", "Points": "分值", "Why": "原因",
    "Talk share agent / customer": "坐席 / 客户讲话占比", "Silence total / longest": "静音总时长 / 最长",
    "Overtalk": "抢话", "Agent interruptions": "坐席打断次数", "Agent speaking rate": "坐席语速",
    "Scorecards": "评分卡", "every rubric version applied to this call": "本通话应用过的所有评分标准版本",
    "Rubric": "评分标准", "Scored": "评分时间", "current": "当前", "Make current": "设为当前",
    "not the current scorecard": "非当前评分卡", "Reviewed by {who}": "复核人 {who}", "agree": "同意",
    "disagree → {o}": "不同意 → {o}", "comment": "备注", "Agree": "同意", "Disagree": "不同意",
    "Appeal by {who}": "{who} 申诉", "Accept": "接受", "Reject": "驳回", "Appeal": "申诉",
    "why this item should pass": "本项应判通过的理由", "weight {w}": "权重 {w}",
    "searched for": "查找内容", "no matching utterance": "未找到匹配的发言",
    "mood (−1 negative … +1 positive)": "情绪值（−1 负面 … +1 正面）", "time (s)": "时间（秒）",
    "customer mood at the end: {v}": "结束时客户情绪：{v}", "flag threshold {v}": "标记阈值 {v}",
    "No sentiment for this call.": "本通话没有情绪数据。",
    # calibration
    "automatic vs reviewer, per rubric item": "自动评分与人工复核对比（按评分项）", "Item": "评分项",
    "Reviewed": "已复核", "Accuracy": "一致率", "Cohen's κ": "Cohen κ 系数",
    "Confusion (auto → human)": "混淆（自动 → 人工）", "No reviewed items yet.": "暂无已复核的评分项。",
    # coaching
    "Team overview": "班组概览", "Team total": "班组合计", "{n} agents": "{n} 名坐席", "Calls": "通话数", "Average": "平均分", "Lowest": "最低分", "Flagged": "被标记",
    "Coaching: {name}": "辅导：{name}", "{n} calls · average {avg}": "{n} 通 · 平均 {avg} 分",
    "Weekly score vs team": "每周得分与班组对比", "week": "周", "average final score": "平均最终得分",
    "team": "班组", "calls per week": "每周通话数", "Weekly item pass rate": "每周评分项通过率",
    "pass rate (%)": "通过率（%）", "Weakest items": "最薄弱的评分项", "team {r}": "班组 {r}",
    "Every item passed.": "所有评分项均通过。", "Item pass rates vs team": "评分项通过率与班组对比",
    "chars/min": "字/分钟", "words/min": "词/分钟", "Scored items": "评分次数", "Recent calls": "最近通话",
    "Warmth trend": "服务温度趋势", "month": "月", "Monthly score vs team": "每月得分与班组对比",
    "Monthly item pass rate": "每月评分项通过率", "calls per month": "每月通话数", "warmth (0–100)": "服务温度（0–100）",
    # search
    "Search transcripts": "搜索转写文本", "words in the (redacted) transcript": "（脱敏后）转写文本中的词语",
    "No matches.": "没有匹配结果。",
    # error pages (the API's messages)
    "agents see only their own calls": "坐席只能查看自己的通话", "supervisors see only their teams' calls": "班组长只能查看本班组的通话",
    "agents see only their own dashboard": "坐席只能查看自己的辅导页", "supervisors see only their teams' agents": "班组长只能查看本班组的坐席",
    "not logged in": "未登录", "CSRF token missing or invalid": "CSRF 令牌缺失或无效", "Not Found": "页面不存在",
    # built-in flags
    "fatal_item": "致命项未通过", "review_item": "需复核项未通过", "low_score": "低分",
    "no_speech": "未识别到语音", "truncated": "录音不完整",
    "one_sided_audio": "单边录音", "separation_failed": "说话人未能分离",
    "duplicate_channels": "双声道内容相同", "untranscribed_speech": "语音未能转写",
    # analytics and early warning (web/analytics.py, templates/analytics.html)
    "Analytics": "分析预警", "Analytics and early warning": "来电分析与预警", "Apply": "应用",
    "Active warnings": "当前预警", "No active warnings.": "当前没有预警。", "Driver": "来电原因", "Where": "范围",
    "Bucket": "时段", "Baseline": "基线", "Calls behind it": "相关通话", "Acknowledge": "确认", "area": "区域",
    "queue": "队列", "Call drivers": "来电原因分布", "calls": "通话数", "day": "日期",
    "calls per day": "每日通话数", "(no driver)": "（未归类）",
    "Repeat contacts and first-contact resolution": "重复来电与首问解决率", "window {n} days": "窗口 {n} 天",
    "Repeat contacts": "重复来电", "Repeat rate": "重复来电率", "FCR": "首问解决率",
    "FCR basis": "首问解决率样本数", "Escalation risk": "越级投诉风险", "Time": "时间", "Area": "区域",
    "Repeat complaint": "重复投诉", "yes": "是", "No escalation threats in this period.": "该时段没有越级投诉风险。",
    "external_escalation": "越级投诉风险", "repeat_complaint": "重复来电/重复投诉",
    "Earlier calls of this customer": "该客户此前的来电", "Days before": "几天前", "same driver": "同一原因",
    "No earlier calls you may see.": "没有您可查看的此前来电。",
}

_WHO = {"agent speech": "坐席发言", "customer speech": "客户发言", "the conversation": "整个对话"}
_PART = (
    (re.compile(r"the first ([\d.]+) s"), "前 {0} 秒"), (re.compile(r"the last ([\d.]+) s"), "最后 {0} 秒"),
    (re.compile(r"the first (\d+) utterance\(s\)"), "前 {0} 句"), (re.compile(r"the last (\d+) utterance\(s\)"), "最后 {0} 句"),
    (re.compile(r"the first (\d+)% of the call"), "通话前 {0}%"), (re.compile(r"the last (\d+)% of the call"), "通话最后 {0}%"),
)
_REGEX = re.compile(r"(?:^|(?<=[\s(（:：]))/(?=\S)[^“”]*?\S/(?=$|[\s;,)）])")
#: how a mono call's roles were assigned (qa_pipeline.asr.roles.RoleAssignment.method)
_ROLE_METHOD = {
    "voiceprint": "声纹", "opening_phrase": "开场话术", "first_speaker": "先开口者", "single_speaker": "只有一个说话人", "none": "无",
}
_KEY = {"queue": "队列", "direction": "呼叫方向", "language": "语言", "team": "班组"}
_MEASURE = {"start": "开始时", "end": "结束时", "change": "变化", "mean": "平均", "min": "最低"}
_METRIC = {
    "silence_longest_s": "最长静音（秒）", "silence_total_s": "静音总时长（秒）", "overtalk_count": "抢话次数",
    "overtalk_s": "抢话时长（秒）", "agent_interruptions": "坐席打断次数", "agent_speaking_rate": "坐席语速",
    "agent_talk_share": "坐席讲话占比", "customer_talk_share": "客户讲话占比", "duration_s": "通话时长（秒）",
}


def negotiate(cookie: str | None, query: str | None = None) -> str:
    """The page locale: ``?lang=`` first, then the ``qa_lang`` cookie, else zh-CN."""
    for value in (query, cookie):
        if value in LOCALES:
            return value
    return DEFAULT_LOCALE


def translator(locale: str) -> Translator:
    """``_(msgid, **params)`` for ``locale``: the zh-CN entry (or the id itself) formatted with params."""

    def _(msgid: str, **params: object) -> str:
        text = ZH.get(msgid, msgid) if locale == "zh-CN" else msgid
        return text.format(**params) if params else text

    return _


def _where_zh(where: str) -> str:
    for who, zh in _WHO.items():
        if where.startswith(who):
            rest = where[len(who):].removeprefix(" in ")
            parts = [p.strip() for p in rest.split(" and ") if p.strip()]
            out = []
            for p in parts:
                for rx, fmt in _PART:
                    m = rx.fullmatch(p)
                    if m:
                        out.append(fmt.format(*m.groups()))
                        break
                else:
                    out.append(p)
            return ("、".join(out) + "的" if out else "") + zh
    return where


def _wanted_zh(text: str) -> str:
    text = re.sub(r" \(at least (\d+)\)", r"（至少 \1 个）", text)
    return text.replace(" / ", "、").replace("; ", "；")


def _bound_zh(text: str) -> str:
    return text.replace("max ", "上限 ").replace("min ", "下限 ").replace(", ", "，")


def _item_flag_zh(m: re.Match[str]) -> str:
    parts = split_item_flag(m[0])
    if parts is None:
        return m[0]
    kind = "致命项未通过" if parts[0] == "fatal" else "需复核项未通过"
    return f"{kind}：{parts[1]}（{translate_reason(parts[2], 'zh-CN')}）"


def _zh_templates() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]:
    w = _where_zh
    return [
        (re.compile(r"(?:fatal|review) item failed: .+\)"), _item_flag_zh),
        (re.compile(r"score ([\d.]+) below ([\d.]+)"), lambda m: f"得分 {m[1]} 低于 {m[2]}"),
        (re.compile(r"no speech recognised \(([\d.]+) s\) in ([\d.]+) s of audio \((\d+) channels?\): not scored"),
         lambda m: f"{m[2]} 秒的音频（{m[3]} 声道）中只识别到 {m[1]} 秒语音：未评分"),
        (re.compile(r"recording truncated: the header declares ([\d.]+) s, the file holds ([\d.]+) s \((\d+) % missing\)"),
         lambda m: f"录音不完整：文件头声明 {m[1]} 秒，实际只有 {m[2]} 秒（缺失 {m[3]}%）"),
        (re.compile(r"both channels carry the same signal: .+"),
         lambda m: "两个声道是同一路信号：按单声道评分（说话人分离加角色判定），未使用声道映射"),
        (re.compile(r"channel (\d+) is silent \(peak ([-\d.]+) dBFS\): .+"),
         lambda m: f"声道 {m[1]} 无声（峰值 {m[2]} dBFS）：只录到一方，依赖客户的评分项无法判断"),
        (re.compile(r"no (agent|customer) speech on the \w+ channel while the (agent|customer) talked ([\d.]+) s: .+"),
         lambda m: f"{ZH.get(m[2], m[2])}说了 {m[3]} 秒而{ZH.get(m[1], m[1])}声道没有语音：单向音频或录音支路故障"),
        (re.compile(r"([\d.]+) s of speech found by the VAD stayed without words after a second pass \((\d+) stretch\(es\), first at ([\d.]+) s\)"),
         lambda m: f"语音检测发现的 {m[1]} 秒语音经二次识别仍无文字（{m[2]} 段，第一段在 {m[3]} 秒）"),
        (re.compile(r"diarization found one party for the whole call \((?:minor party ([\d.]+) s of ([\d.]+) s|method (.+))\): .+"),
         lambda m: "说话人分离在整通通话中只找到一方（"
         + (f"另一方只有 {m[1]} 秒 / 共 {m[2]} 秒" if m[1] else f"角色判定：{_ROLE_METHOD.get(m[3], m[3])}") + "）：无法区分坐席与客户，请复核角色"),
        (re.compile(r"(.+): confirmed by the semantic second check \(margin ([-+\d.]+) ≥ ([-+\d.]+)\) \[(.+)\]"),
         lambda m: f"{m[1]}：语义复核确认是对客户的敷衍或冒犯（差值 {m[2]} ≥ {m[3]}）[{m[4]}]"),
        (re.compile(r"(.+): semantic second check did not confirm a dismissal \(best margin ([-+\d.]+) < ([-+\d.]+)\): review item, call not zeroed \[(.+)\]"),
         lambda m: f"{m[1]}：语义复核未确认是敷衍或冒犯（最高差值 {m[2]} < {m[3]}）：转人工复核，不判零分 [{m[4]}]"),
        (re.compile(r"(.+): second check unavailable: .+: review item, call not zeroed \[(.+)\]"),
         lambda m: f"{m[1]}：语义复核不可用：转人工复核，不判零分 [{m[2]}]"),
        (re.compile(r"no dismissal addressed to the customer \((.+) \[(.+)\]\)"),
         lambda m: "没有针对客户的敷衍或冒犯（" + "；".join(_ignored_zh(p) for p in m[1].split("; ")) + f"）[{m[2]}]"),
        (re.compile(r"paraphrase (“.+”) in (.+)"), lambda m: f"{w(m[2])}中有同义说法{m[1]}"),
        (re.compile(r"none of the phrases in (.+)"), lambda m: f"{w(m[1])}中未出现所列话术"),
        (re.compile(r"none of the (\d+) phrases in (.+)"), lambda m: f"{w(m[2])}中未出现 {m[1]} 个所列话术中的任何一个"),
        (re.compile(r"said (.+?) in ((?:agent speech|customer speech|the conversation).*)"), lambda m: f"{w(m[2])}中说了{m[1].replace(', ', '、')}"),
        (re.compile(r"no ([^;]+); expected:? (.+)"), lambda m: f"没有{w(m[1])}；应有：{_wanted_zh(m[2])}"),
        (re.compile(r"missing in (.+?): (.+?)(?: \((\d+) of (\d+)\))?"),
         lambda m: f"{w(m[1])}中未找到：{_wanted_zh(m[2])}" + (f"（出现 {m[3]} 次，至少需 {m[4]} 次）" if m[3] else "")),
        (re.compile(r"no trigger \((.+)\) in the call"), lambda m: f"通话中没有触发语（{_wanted_zh(m[1])}），不适用"),
        (re.compile(r"(\d+) of (\d+) trigger\(s\) without (.+) in the next (\d+) (\w+) utterance\(s\)"),
         lambda m: f"{m[2]} 次触发中有 {m[1]} 次在随后 {m[4]} 句{ZH.get(m[5], m[5])}发言中没有{_wanted_zh(m[3])}"),
        (re.compile(r"each of (\d+) trigger\(s\) answered with (.+)"), lambda m: f"{m[1]} 次触发均以{m[2].replace(', ', '、')}回应"),
        (re.compile(r"(.+) said (\d+) times within (\d+) utterances"), lambda m: f"{_wanted_zh(m[1])}在 {m[3]} 句内说了 {m[2]} 次"),
        (re.compile(r"(.+) not repeated (\d+)\+ times within (\d+) utterances"), lambda m: f"{_wanted_zh(m[1])}在 {m[3]} 句内未重复 {m[2]} 次及以上"),
        (re.compile(r"(\w+) sentiment (\w+) = ([-+\d.]+) \((.+)\)"),
         lambda m: f"{ZH.get(m[1], m[1])}情绪{_MEASURE.get(m[2], m[2])} = {m[3]}（{_bound_zh(m[4])}）"),
        (re.compile(r"(\w+) sentiment (\w+) not available"), lambda m: f"{ZH.get(m[1], m[1])}情绪{_MEASURE.get(m[2], m[2])}不可用"),
        (re.compile(r"(\w+) not measurable on this call"), lambda m: f"本通话无法测量{_METRIC.get(m[1], m[1])}"),
        (re.compile(r"(\w+) = ([-+\d.e]+) \((.+)\)"), lambda m: f"{_METRIC.get(m[1], m[1])} = {m[2]}（{_bound_zh(m[3])}）"),
        (re.compile(r"no silence of ([\d.]+) s or more \(longest ([\d.]+) s\)"), lambda m: f"没有 {m[1]} 秒及以上的静音（最长 {m[2]} 秒）"),
        (re.compile(r"(\d+) hold\(s\) announced( and thanked)?"), lambda m: f"{m[1]} 次保持均已告知" + ("并致谢" if m[2] else "")),
        (re.compile(r"call ended by the (\w+) \(expected the (\w+)\)"), lambda m: f"通话由{ZH.get(m[1], m[1])}结束（应由{ZH.get(m[2], m[2])}结束）"),
        (re.compile(r"not applicable: (\w+) is (.+) \(applies to (.+)\)"),
         lambda m: f"不适用：{_KEY.get(m[1], m[1])}为{'空' if m[2] == 'None' else m[2]}（仅适用于 {m[3]}）"),
        (re.compile(r"who ended the call is not in the metadata"), lambda m: "元数据中没有挂机方，不适用"),
        (re.compile(r"speaker roles unknown \(mono call without diarization\)"), lambda m: "说话人角色未知（单声道且未做说话人分离），不适用"),
        (re.compile(r"(.+) \((customer|agent) (\w+) ([-+\d.]+)\)"),
         lambda m: f"{m[1]}（{ZH.get(m[2], m[2])}{_MEASURE.get(m[3], m[3])}情绪 {m[4]}）"),
        (re.compile(r"(.+): (“.+”)"), lambda m: f"{m[1]}：{m[2].replace(', ', '、')}"),
        (re.compile(r"no (.+) in ((?:agent speech|customer speech|the conversation).*)"), lambda m: f"{w(m[2])}中没有{_wanted_zh(m[1])}"),
        (re.compile(r"(.+?) in (agent speech|customer speech|the conversation)(.*)"),
         lambda m: f"{w(m[2] + m[3])}中出现{m[1].replace(', ', '、')}"),
    ]


_IGNORED = re.compile(r"(“.+?”) ignored: (.+)")
_IGNORED_WHY = {
    "negated": "否定提及", "reported or hypothetical speech": "转述或假设", "reported speech": "转述他人的话",
    "the clause is about something else (third-person subject)": "从句谈的是别的事（第三方主语）",
    "a courteous suggestion to the customer (您…可以 / 请您)": "对客户的礼貌建议（您…可以 / 请您）",
}


def _ignored_zh(part: str) -> str:
    """One "“PHRASE” ignored: WHY" note of the fatal context rules (scoring/fatal.py) in Chinese."""
    m = _IGNORED.fullmatch(part)
    if not m:
        return part
    why = _IGNORED_WHY.get(m[2]) or ("属于谈论其他事情的从句" if m[2].endswith("is part of a clause about something else") else m[2])
    return f"忽略{m[1]}：{why}"


_HOLD = re.compile(r"(\d+) s hold at (\d+) s: (.+)")
_HOLD_ISSUES = {"not announced": "未告知", "no thanks/apology on return": "返回时未致谢/致歉"}


@lru_cache(maxsize=1)
def _compiled() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]:
    return _zh_templates()


def translate_reason(reason: str | None, locale: str) -> str:
    """An engine reason (English sentence) in ``locale``; a ``/regex/`` matcher description is
    replaced by words in either language. Unknown sentences are returned unchanged."""
    if not reason:
        return ""
    if locale != "zh-CN":
        return _REGEX.sub("the expected wording", reason)
    reason = _REGEX.sub("规定话术", reason)
    if _HOLD.match(reason):
        return "；".join(_hold_zh(p) for p in reason.split("; "))
    for rx, fmt in _compiled():
        m = rx.fullmatch(reason)
        if m:
            return fmt(m)
    return reason


_SILENCE_QUOTE = re.compile(r"\[([\d.]+) s silence after (\w+): (“.*”)\]")


def evidence_quote(quote: str | None, locale: str) -> str:
    """An evidence quote; the engine's "[N s silence after agent: “…”]" notes are translated."""
    m = _SILENCE_QUOTE.fullmatch(quote or "") if locale == "zh-CN" else None
    if m:
        return f"[{ZH.get(m[2], m[2])}说完{m[3]}后静音 {m[1]} 秒]"
    return quote or ""


#: warmth sub-scores by id, levels and the sentences of :mod:`qa_pipeline.sentiment.warmth`
WARMTH_NAMES = {
    "greeting_address": "热情问候与礼貌称呼", "empathy": "客户负面时的共情安抚", "no_cold_forms": "无生硬用语（反问、催促、指责）",
    "tone": "语气语调（韵律）", "proactive_closing": "主动帮助与结束前询问", "customer_mood": "客户情绪好转",
}
_WARMTH_PHRASES = {
    "warm greeting": "问候热情", "no warm greeting in the first turns": "开头没有热情问候", "no agent audio": "没有坐席音频",
    "proactive help": "主动提供帮助", "no proactive extra help": "没有主动提供额外帮助", "closing offer": "结束前询问其他需求",
    "no offer of further help": "结束前未询问其他需求", "warm close": "热情道别", "no warm close": "没有热情道别",
    "the agent still apologised or empathised": "坐席仍有致歉或共情", "no apology or empathy either": "也没有致歉或共情",
    "no negative customer turn": "客户没有负面发言", "warm": "温暖", "neutral": "一般", "cold": "冷淡",
    "up": "上升", "down": "下降", "flat": "平稳",
}
_WARMTH_TEMPLATES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"respectful address in (\d+)/(\d+) agent turns(?:, informal 你 in (\d+))?"),
     lambda m: f"{m[2]} 句坐席发言中 {m[1]} 句使用敬称" + (f"，{m[3]} 句用“你”" if m[3] else "")),
    (re.compile(r"agent soothed (\d+) of (\d+) negative customer turns"), lambda m: f"客户 {m[2]} 次负面发言中坐席安抚了 {m[1]} 次"),
    (re.compile(r"(\d+) cold forms(?: \((.+)\))?"), lambda m: f"{m[1]} 处生硬用语" + (f"（{m[2]}）" if m[2] else "")),
    (re.compile(r"pitch variation ([\d.]+) st, (\d+) loud spikes, rate ([\d.]+) (\S+)"),
     lambda m: f"音高变化 {m[1]} 半音，{m[2]} 次音量突增，语速 {m[3]} {ZH.get(m[4], m[4])}"),
    (re.compile(r"customer mood ([-+\d.]+) → ([-+\d.]+) \((\w+)\)"), lambda m: f"客户情绪 {m[1]} → {m[2]}（{_WARMTH_PHRASES.get(m[3], m[3])}）"),
    (re.compile(r"mood ([-+\d.]+)"), lambda m: f"情绪 {m[1]}"),
    (re.compile(r"(warm greeting|no greeting) \(rubric item greeting: (\w+)\)"),
     lambda m: ("问候热情" if m[1] == "warm greeting" else "没有问候") + f"（评分项“开场问候”：{ {'pass': '通过', 'fail': '不通过'}.get(m[2], m[2]) }）"),
]


def warmth_text(text: str | None, locale: str) -> str:
    """A warmth level, reason or evidence note in ``locale`` ("; "-separated parts translated one by one)."""
    if not text or locale != "zh-CN":
        return text or ""
    out = []
    for part in text.split("; "):
        zh = _WARMTH_PHRASES.get(part)
        if zh is None:
            for rx, fmt in _WARMTH_TEMPLATES:
                m = rx.fullmatch(part)
                if m:
                    zh = fmt(m)
                    break
        out.append(zh if zh is not None else part)
    return "；".join(out)


_ITEM_FLAG = re.compile(r"(fatal|review) item failed: (.+)\)")


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def split_item_flag(reason: str) -> tuple[str, str, str] | None:
    """``("fatal"|"review", item name, item reason)`` of a failed-item flag's reason
    ("fatal item failed: NAME (REASON)"); names and reasons may hold parentheses themselves,
    so the split is the first " (" that leaves both balanced."""
    m = _ITEM_FLAG.fullmatch(reason or "")
    if not m:
        return None
    body = m[2]
    for k in [i for i in range(len(body)) if body.startswith(" (", i)]:
        name, inner = body[:k], body[k + 2 :]
        if _balanced(name) and _balanced(inner):
            return m[1], name, inner
    return None


def flag_reason(flag_id: str, reason: str | None, locale: str) -> str:
    """A flag's reason beside its chip: for failed-item flags the item and why (the chip already
    says "fatal item failed"), otherwise the translated reason."""
    parts = split_item_flag(reason or "") if flag_id in ("fatal_item", "review_item") else None
    if parts:
        inner = translate_reason(parts[2], locale)
        return f"{parts[1]}（{inner}）" if locale == "zh-CN" else f"{parts[1]} ({inner})"
    return translate_reason(reason, locale)


def _hold_zh(part: str) -> str:
    m = _HOLD.fullmatch(part)
    if not m:
        return part
    issues = [_HOLD_ISSUES.get(i, re.sub(r"longer than ([\d.]+) s", r"超过 \1 秒", i)) for i in m[3].split(", ")]
    return f"{m[2]} 秒处保持 {m[1]} 秒：" + "、".join(issues)


@lru_cache(maxsize=16)
def rubric_names(rubrics_dir: Path) -> dict[str, dict[str, str]]:
    """``{rubric_id: {item_or_flag_id: name}}`` of every rubric in ``rubrics_dir`` (item names,
    and each flag rule's reason as the flag's name), plus ``{"": {...}}``: zh rubrics' names
    first, for ids shown without their rubric (filters, coaching)."""
    return _load_names(rubrics_dir)[0]


@lru_cache(maxsize=16)
def flag_ids(rubrics_dir: Path) -> tuple[str, ...]:
    """Every flag a call can carry: the built-in ones, then each rubric's flag rules (for the queue filter)."""
    return BUILTIN_FLAGS + _load_names(rubrics_dir)[1]


@lru_cache(maxsize=16)
def _load_names(rubrics_dir: Path) -> tuple[dict[str, dict[str, str]], tuple[str, ...]]:
    from ..errors import QAError
    from ..scoring.rubric import load_rubric

    out: dict[str, dict[str, str]] = {"": {}}
    flags: dict[str, None] = {}
    fallback_en: dict[str, str] = {}
    for path in sorted(rubrics_dir.glob("*.yaml")):
        try:
            rubric = load_rubric(path)
        except QAError:
            continue
        names = {i.id: i.name for i in rubric.items} | {f.id: f.reason for f in rubric.flags}
        flags.update(dict.fromkeys(f.id for f in rubric.flags))
        out[rubric.id] = names
        target = out[""] if rubric.language == "zh" else fallback_en
        for k, v in names.items():
            target.setdefault(k, v)
    for k, v in fallback_en.items():
        out[""].setdefault(k, v)
    return out, tuple(sorted(flags))
