"""What identifies a result: the ASR description and the result/rescore keys.

A key is a hash of every input that determines a call's result except the audio itself, so
an already-scored call is recognised before decoding and without loading any model
(:class:`AsrDescription.of_settings` resolves the model without loading it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from . import __version__
from .asr.models import resolve_model
from .asr.numerics import numeric_profile
from .asr.transcriber import (
    SECOND_PASS_TOKEN_SLACK,
    SECOND_PASS_TOKENS_PER_S,
    SUPPORTED_LANGUAGES,
    decode_options,
    resolve_device,
)
from .config import AsrSettings, Settings
from .records import SCHEMA_VERSION, AsrStages, CallMetadata, Transcript

if TYPE_CHECKING:
    from .asr import Transcriber
    from .sources import CallSource


@dataclass(frozen=True)
class AsrDescription:
    """The ASR model a worker runs and its exact options per language (part of every result key)."""

    model_id: str
    device: str
    compute_type: str
    options: Mapping[str, Mapping[str, Any]]
    #: the process's numeric environment that changes transcripts (:mod:`qa_pipeline.asr.numerics`)
    numerics: Mapping[str, str]

    @classmethod
    def of(cls, transcriber: "Transcriber") -> "AsrDescription":
        return cls(
            model_id=transcriber.model_id,
            device=transcriber.settings.device,
            compute_type=transcriber.settings.compute_type,
            options={lang: transcriber.options(lang) for lang in SUPPORTED_LANGUAGES},
            numerics=numeric_profile(transcriber.settings.device),
        )

    @classmethod
    def of_settings(cls, settings: AsrSettings, models_dir: Path) -> "AsrDescription":
        """The same description from the settings alone: resolves the model, never loads it.

        Equal to :meth:`of` for the transcriber these settings would load.

        Raises:
            ModelError: the model is not installed (as loading would).
        """
        resolved = resolve_model(settings.model, models_dir)
        device = resolve_device(settings.device)
        return cls(
            model_id=resolved.model_id,
            device=device,
            compute_type=settings.compute_type,
            options={lang: decode_options(settings, lang) for lang in SUPPORTED_LANGUAGES},
            numerics=numeric_profile(device),
        )


def digest(blob: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def asr_stages(conf: AsrSettings) -> AsrStages:
    """The pipeline's own recognition stages around faster-whisper (music filter, second pass)."""
    return AsrStages(
        music_filter=conf.music_filter,
        second_pass=conf.second_pass,
        second_pass_tokens_per_s=(SECOND_PASS_TOKENS_PER_S, SECOND_PASS_TOKEN_SLACK) if conf.second_pass else None,
        fallback_beam_size=conf.fallback_beam_size,
        encoder_min_s=conf.encoder_min_s,
        mono_beam_size=conf.mono_beam_size,
    )


def swap_requested(metadata: CallMetadata) -> bool:
    from .asr.roles import swap_requested as requested

    return requested(metadata)


def requested_language(settings: Settings, metadata: CallMetadata) -> str:
    return metadata.language or settings.default_language


def input_key(
    settings: Settings, source: "CallSource", asr: AsrDescription, rubric_fingerprint: Callable[[str], str]
) -> str:
    """Hash of every input that determines a call's result, except the audio itself.

    ``rubric_fingerprint(language)`` is the fingerprint of the rubric that scores the call in
    that language.
    """
    requested = requested_language(settings, source.metadata)
    languages = list(SUPPORTED_LANGUAGES) if requested == "auto" else [requested]
    blob = {
        "pipeline": __version__,
        "schema": SCHEMA_VERSION,
        "asr_model": asr.model_id,
        "asr_options": {lang: dict(asr.options[lang]) for lang in languages},
        "device": [asr.device, asr.compute_type],
        "numerics": dict(asr.numerics),
        "asr_stages": asdict(asr_stages(settings.asr)),  # a tuple hashes as the list it dumps to
        "language": requested,
        "agent_channel": source.metadata.agent_channel,
        "pause_split_s": settings.asr.pause_split_s,
        "rubrics": {lang: rubric_fingerprint(lang) for lang in languages},
        "sentiment": settings.sentiment.model_dump(),
        # torch's thread count is where the work runs, not what it gives (as CTranslate2's threads
        # are left out above): changing it re-transcribes nothing
        "diarization": settings.diarization.model_dump(mode="json", exclude={"cpu_threads"}),
        "swap_roles": swap_requested(source.metadata),
    }
    return digest(blob)


def rescore_key(
    audio_sha256: str,
    transcript: Transcript,
    *,
    asr_model: str,
    rubric_fingerprint: str,
    sentiment: Mapping[str, float],
    overrides: Mapping[str, Any],
) -> str:
    """Key of a rescored result: what determines the new scorecard (rescoring twice adds nothing).

    ``Utterance.speaker`` is left out: it never changes a scorecard, and keys of results
    rescored before it existed stay the same.
    """
    utterances = [{k: v for k, v in asdict(u).items() if k != "speaker"} for u in transcript.utterances]
    blob = {
        "transcript": digest({"utterances": utterances}),
        "asr_model": asr_model,
        "rubric": rubric_fingerprint,
        "sentiment": dict(sentiment),
        "overrides": dict(overrides),
        "pipeline": __version__,
        "schema": SCHEMA_VERSION,
    }
    return f"{audio_sha256[:16]}-r{digest(blob)[:15]}"
