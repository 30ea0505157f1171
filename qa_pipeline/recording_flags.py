"""Review flags from recording facts: duplicated channels, a one-sided call, parties not separated.

These are faults of the recording or of speaker separation, not of the agent: the call goes to
the review queue instead of silently counting in the agent's average with customer-dependent
items n/a.  :func:`recording_flags` reads only the decoded audio's facts
(:class:`~qa_pipeline.records.AudioInfo`) and the transcript, so a rescore without audio gives
the same flags.

* ``one_sided_audio`` (priority 2): a stereo call with one channel silent (peak below
  :data:`~qa_pipeline.channels.SILENT_CHANNEL_DBFS`) or without any transcribed speech
  while the other party talked for at least :data:`MIN_OTHER_TALK_S`.
* ``duplicate_channels`` (priority 3): both channels carried one signal; the call was scored
  as a mono call (diarization + roles) and its channel map does not say who is who.
* ``untranscribed_speech`` (priority 3): VAD speech that stayed without words after the
  transcriber's second pass, with where it is (``metrics.untranscribed_speech``).
* ``separation_failed`` (priority 2): a mono call whose diarization found one party (or almost
  all speech for one): the parties could not be told apart, so role-dependent items are not
  a judgement of the agent.
"""

from __future__ import annotations

from collections.abc import Mapping

from .channels import SILENT_CHANNEL_DBFS
from .records import AudioInfo, Evidence, Flag, Role, RoleEvidence, Transcript

#: The other party must have talked at least this long before an empty side is a fault (seconds).
MIN_OTHER_TALK_S = 5.0
#: Speech left without words (after the second pass) that is worth a reviewer's attention (seconds).
MIN_UNTRANSCRIBED_S = 3.0
#: A mono call's minor party below this share of talk time counts as not separated.
MIN_MINOR_SHARE = 0.05


def recording_flags(audio: AudioInfo, transcript: Transcript, roles: RoleEvidence | None = None) -> tuple[Flag, ...]:
    """Flags for recording and separation faults of one call (empty when there are none).

    ``roles`` is the role assignment of a mono call as recorded in ``versions.options.roles``,
    or None.
    """
    flags: list[Flag] = []
    talk = _talk(transcript)
    if audio.channels == 2 and audio.downmixed:
        flags.append(Flag("duplicate_channels", "both channels carry the same signal: scored as a mono call "
                          "(diarization + roles), the channel map was not used", 3))
    if audio.channels == 2 and not audio.downmixed:
        flags.extend(_one_sided(audio, transcript, talk))
    elif transcript.utterances:
        flags.extend(_not_separated(transcript, talk, roles))
    lost = sum(s.end - s.start for s in transcript.untranscribed)
    if lost >= MIN_UNTRANSCRIBED_S:
        first = transcript.untranscribed[0]
        flags.append(Flag("untranscribed_speech", f"{lost:.0f} s of speech found by the VAD stayed without words "
                          f"after a second pass ({len(transcript.untranscribed)} stretch(es), first at {first.start:.1f} s)", 3,
                          tuple(Evidence(s.start, s.end, "") for s in transcript.untranscribed[:3])))
    return tuple(flags)


def _talk(transcript: Transcript) -> dict[Role, float]:
    out = dict.fromkeys(Role, 0.0)
    for u in transcript.utterances:
        out[u.role] += max(0.0, u.end - u.start)
    return out


def _one_sided(audio: AudioInfo, transcript: Transcript, talk: Mapping[Role, float]) -> list[Flag]:
    silent = [c for c, level in enumerate(audio.channel_peak_dbfs) if level < SILENT_CHANNEL_DBFS]
    if silent:
        c = silent[0]
        return [Flag("one_sided_audio", f"channel {c} is silent (peak {audio.channel_peak_dbfs[c]:.0f} dBFS): "
                     "only one party was recorded; customer-dependent items cannot be judged", 2)]
    for role, other in ((Role.CUSTOMER, Role.AGENT), (Role.AGENT, Role.CUSTOMER)):
        if talk[role] == 0.0 and talk[other] >= MIN_OTHER_TALK_S:
            first = next(u for u in transcript.utterances if u.role is other)
            return [Flag("one_sided_audio", f"no {role.value} speech on the {role.value} channel while the "
                         f"{other.value} talked {talk[other]:.0f} s: one-way audio or a failed recording leg", 2,
                         (Evidence(first.start, first.end, first.text[:80], first.id),))]
    return []


def _not_separated(transcript: Transcript, talk: Mapping[Role, float], roles: RoleEvidence | None) -> list[Flag]:
    method = roles.method if roles is not None else None
    total = talk[Role.AGENT] + talk[Role.CUSTOMER]
    if total <= 0.0 and method is None:
        return []  # unattributed mono call: roles_unknown already says so
    minor = min(talk[Role.AGENT], talk[Role.CUSTOMER])
    if method == "single_speaker" or (total > 0 and minor / total < MIN_MINOR_SHARE and total >= 2 * MIN_OTHER_TALK_S):
        return [Flag("separation_failed", "diarization found one party for the whole call "
                     f"({'method ' + method if method else f'minor party {minor:.1f} s of {total:.0f} s'}): "
                     "agent and customer could not be told apart; review the roles", 2)]
    return []
