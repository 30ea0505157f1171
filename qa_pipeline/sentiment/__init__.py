"""Customer sentiment and agent service warmth (服务温度).

Typical use (one object per stage, loaded once, called per call)::

    model = SentimentModel.packaged()               # or SentimentModel.from_pretrained(local_dir)
    analyzer = CallSentimentAnalyzer(model)
    scorer = WarmthScorer()
    sentiment = analyzer(transcript)                 # -> CallSentiment
    warmth = scorer(transcript, sentiment, agent_signal, 16000)   # -> Warmth
"""

# the records of this stage live in the leaf module qa_pipeline.records (re-exported here)
from ..records import CallSentiment, NegativeMoment, Prosody, UtteranceSentiment, Warmth, WarmthComponent
from .call import CallSentimentAnalyzer, CallSentimentParams
from .model import SentenceSentiment, SentimentModel, SentimentThresholds
from .prosody import ProsodyAnalyzer, ProsodyParams
from .warmth import WarmthScorer, WarmthThresholds, WarmthWeights

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
