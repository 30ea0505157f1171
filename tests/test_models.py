"""Model store: manifest, offline resolution, assembling the packaged Whisper base."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa_pipeline.asr.models import install_model, load_manifest, resolve_model
from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.errors import ModelError

MODELS = PROJECT_ROOT / "models"


def test_manifest_lists_packaged_and_hub_models() -> None:
    manifest = load_manifest(MODELS)
    assert manifest.models["faster-whisper-base"].source.type == "python-packages"
    assert manifest.models["large-v3"].source.type == "hub"
    assert manifest.models["large-v3-turbo"].recommended["device"] == "cuda"


def test_install_assembles_and_verifies(tmp_path: Path) -> None:
    shutil.copy(MODELS / "manifest.yaml", tmp_path / "manifest.yaml")
    target = install_model("faster-whisper-base", tmp_path)
    assert (target / "model.bin").stat().st_size == 145217532
    assert {p.name for p in target.iterdir()} == {"config.json", "model.bin", "tokenizer.json", "vocabulary.txt"}
    resolved = resolve_model("faster-whisper-base", tmp_path)
    assert resolved.local and resolved.location == str(target)
    assert resolved.model_id.startswith("faster-whisper-base@")
    # a local directory path works too, and yields the same content fingerprint
    by_path = resolve_model(str(target), tmp_path)
    assert by_path.model_id.split("@")[1] == resolved.model_id.split("@")[1]


def test_not_installed_packaged_model_names_the_command(tmp_path: Path) -> None:
    shutil.copy(MODELS / "manifest.yaml", tmp_path / "manifest.yaml")
    with pytest.raises(ModelError, match="qa models install faster-whisper-base"):
        resolve_model("faster-whisper-base", tmp_path)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "no-such-model"), MODELS)


def test_hub_model_is_not_downloaded_offline(tmp_path: Path) -> None:
    from qa_pipeline.asr import Transcriber
    from qa_pipeline.config import AsrSettings

    shutil.copy(MODELS / "manifest.yaml", tmp_path / "manifest.yaml")
    resolved = resolve_model("large-v3", tmp_path)
    assert not resolved.local and resolved.location == "Systran/faster-whisper-large-v3"
    with pytest.raises(ModelError, match="not found locally"):
        Transcriber.from_pretrained("large-v3", models_dir=tmp_path, settings=AsrSettings(local_files_only=True))
    assert not (tmp_path / "hub").exists() or not any((tmp_path / "hub").rglob("model.bin"))


def test_result_keys_need_no_model_loaded(session_settings, pipeline) -> None:
    """The settings-only ASR description equals the loaded model's, so keys never load Whisper."""
    from qa_pipeline.keys import AsrDescription
    from qa_pipeline.pipeline import CallPipeline

    lazy = CallPipeline(session_settings)
    described = lazy.asr_description
    assert lazy.transcriber is None and lazy.transcription is None  # nothing loaded to compute it
    loaded = AsrDescription.of(pipeline.transcriber)
    assert described == loaded
    assert pipeline.asr_description == described


def test_thread_counts_are_not_part_of_a_result_key(session_settings) -> None:
    """CPU threads (CTranslate2's, torch's for diarization) change where the work runs, not the
    transcript: a new count must not make every stored call stale; a diarization threshold does."""
    from qa_pipeline.batch import source_for_file
    from qa_pipeline.config import PROJECT_ROOT
    from qa_pipeline.pipeline import CallPipeline

    src = source_for_file(PROJECT_ROOT / "samples" / "calls" / "zh_good_agent.wav", session_settings)

    def key(**changes: dict[str, object]) -> str:
        settings = session_settings.model_copy(
            update={name: getattr(session_settings, name).model_copy(update=c) for name, c in changes.items()})
        return CallPipeline(settings).input_key(src)

    base = key()
    assert key(diarization={"cpu_threads": 2}) == key(diarization={"cpu_threads": 0}) == base
    assert key(asr={"cpu_threads": 3, "num_workers": 1}) == base
    assert key(diarization={"clustering_threshold": 0.5}) != base
