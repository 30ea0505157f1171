"""Customer sentiment and agent service warmth (服务温度).

Typical use (one object per stage, loaded once, called per call)::

    model = SentimentModel.packaged()               # or SentimentModel.from_pretrained(local_dir)
    analyzer = CallSentimentAnalyzer(model)
    scorer = WarmthScorer()
    sentiment = analyzer(transcript)                 # -> CallSentiment
    warmth = scorer(transcript, sentiment, agent_signal, 16000)   # -> Warmth
"""

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
