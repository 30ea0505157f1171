"""Speech recognition: model store, faster-whisper transcription, conversation assembly."""

from .conversation import merge_channels, split_utterances
from .guards import AsrSegment, SegmentGuard
from .models import ResolvedModel, install_model, load_manifest, resolve_model
from .transcriber import Transcriber, TranscriptionInfo

__all__ = [
    "AsrSegment",
    "ResolvedModel",
    "SegmentGuard",
    "Transcriber",
    "TranscriptionInfo",
    "install_model",
    "load_manifest",
    "merge_channels",
    "resolve_model",
    "split_utterances",
]
