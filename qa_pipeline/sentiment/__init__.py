"""Customer sentiment and agent service warmth (服务温度).

Typical use (one object per stage, loaded once, called per call)::

    model = SentimentModel.packaged()               # or SentimentModel.from_pretrained(local_dir)
    analyzer = CallSentimentAnalyzer(model)
    scorer = WarmthScorer()
    sentiment = analyzer(transcript)                 # -> CallSentiment
    warmth = scorer(transcript, sentiment, agent_signal, 16000)   # -> Warmth
"""

# records first: it imports this package's call/warmth records at its end, so importing a
# submodule of this package first (e.g. ``qa_pipeline.sentiment.corpora``) must not start there.
from .. import records as _records  # noqa: F401,E402
from .call import CallSentiment, CallSentimentAnalyzer, CallSentimentParams, NegativeMoment, UtteranceSentiment
from .model import SentenceSentiment, SentimentModel, SentimentThresholds
from .prosody import Prosody, ProsodyAnalyzer, ProsodyParams
from .warmth import Warmth, WarmthComponent, WarmthScorer, WarmthThresholds, WarmthWeights

__all__ = [
    "CallSentiment",
    "CallSentimentAnalyzer",
    "CallSentimentParams",
    "NegativeMoment",
    "Prosody",
    "ProsodyAnalyzer",
    "ProsodyParams",
    "SentenceSentiment",
    "SentimentModel",
    "SentimentThresholds",
    "UtteranceSentiment",
    "Warmth",
    "WarmthComponent",
    "WarmthScorer",
    "WarmthThresholds",
    "WarmthWeights",
]
