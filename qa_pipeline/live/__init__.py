"""Live call monitoring: calls stream in (Genesys AudioHook Monitor, or an audio fork), are
transcribed and checked against the rubric's live rules while they happen, and are stored and
scored by the ordinary pipeline at hang-up.

Stages, one object each: :mod:`.protocol` (wire formats) -> :mod:`.auth` (X-API-KEY + HTTP
message signature) -> :class:`.session.LiveCall` (recording spool, endpointing) ->
:class:`.recognizer.RecognitionService` (one shared Whisper model) -> :class:`.judge.LiveJudge`
(the batch rubric engine on the transcript so far) -> :class:`.store.LiveStore` and
:class:`.webhook.WebhookSender` (alerts). :class:`.server.LiveServer` ties them together.
"""

from .judge import Alert, LiveJudge
from .protocol import ProtocolError
from .server import LiveServer
from .session import LiveCall, LiveRuntime, recover_spool

__all__ = ["Alert", "LiveCall", "LiveJudge", "LiveRuntime", "LiveServer", "ProtocolError", "recover_spool"]
