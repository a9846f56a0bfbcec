"""Model registry, GGUF metadata, `use` (tutor.toml) — no network. The download path is in
tests/integration/test_model_pull.py."""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_settings
from tutor.serve.models import REGISTRY, ModelStore, quantization_name, read_gguf_metadata


@pytest.fixture(scope="module")
def smol():
    from tutor.llm import default_model_path

    return default_model_path()


@pytest.mark.parametrize("ftype, name", [(3, "Q4_1"), ("15", "Q4_K_M"), (7, "Q8_0"), (None, None)])
def test_quantization_names_come_from_llama_cpp(ftype, name):
    assert quantization_name(ftype) == name


def test_registry_entries_are_well_formed():
    names = [e.name for e in REGISTRY]
    assert len(names) == len(set(names)) >= 3
    for e in REGISTRY:
        assert e.filename.endswith(".gguf") and "/" in e.repo and e.size_gb > 0
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
        assert e.revision == "main" or re.fullmatch(r"[0-9a-f]{40}", e.revision)
        assert "q4_k_m" in e.filename.lower() and e.source.startswith("https://huggingface.co/")


def test_metadata_is_read_without_loading_the_model(smol):
    meta = read_gguf_metadata(smol)
    assert meta["general.architecture"] == "llama" and meta["llama.context_length"] == "8192"
    assert "im_start" in meta["tokenizer.chat_template"]


def test_a_file_that_is_not_gguf_is_reported(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model at all" * 100)
    with pytest.raises(ModelStore.NotAModel, match="not a readable GGUF"):
        read_gguf_metadata(bad)


def test_installed_lists_default_and_models_dir(tmp_path, smol):
    s = make_settings(tmp_path / "home")
    s.models_dir.mkdir(parents=True)
    (s.models_dir / "linked.gguf").symlink_to(smol)
    (s.models_dir / "junk.gguf").write_bytes(b"junk" * 10)
    (s.models_dir / "half.gguf.part").write_bytes(b"x")  # an unfinished download is not a model
    got = {i.name: i for i in ModelStore(s).installed()}
    assert set(got) == {smol.stem, "linked", "junk"}
    d = got[smol.stem]
    assert d.default and d.active and (d.quantization, d.context_length, d.chat_template) == ("Q4_1", 8192, True)
    assert got["linked"].quantization == "Q4_1" and got["linked"].active  # same file as the default, via the link
    assert got["junk"].error and got["junk"].quantization is None


def test_extra_registry_entries_merge_and_bad_files_are_reported(tmp_path):
    reg = tmp_path / "reg.toml"
    reg.write_text('[[models]]\nname = "mine"\nrepo = "me/mine"\nfilename = "mine.gguf"\nsize_gb = 0.1\n')
    store = ModelStore(make_settings(tmp_path / "home", model_registry=reg))
    assert store.entry("mine").revision == "main" and store.entry("mine").sha256 is None
    assert "qwen2.5-3b" in store.registry()
    with pytest.raises(ModelStore.Unknown, match="qwen2.5-1.5b"):
        store.entry("nope")
    reg.write_text("[[models]]\nname = ")
    with pytest.raises(ModelStore.BadRegistry, match="TUTOR_MODEL_REGISTRY"):
        store.registry()


def test_use_writes_and_clears_model_path(tmp_path, monkeypatch, smol):
    from tutor.config import Settings

    home = tmp_path / "home"
    home.mkdir()
    (home / "tutor.toml").write_text('top_k = 7\n')
    monkeypatch.setenv("TUTOR_HOME", str(home))
    monkeypatch.delenv("TUTOR_MODEL_PATH", raising=False)
    store = ModelStore(Settings())
    assert store.use(str(smol)) == smol.resolve()
    s = Settings()
    assert s.model_path == smol.resolve() and s.top_k == 7  # other keys kept
    with pytest.raises(ModelStore.Unknown, match="not downloaded"):
        store.use("qwen2.5-1.5b")
    with pytest.raises(ModelStore.Unknown, match="tutor model list"):
        store.use(str(tmp_path / "missing.gguf"))
    assert store.use("default") is None
    assert Settings().model_path is None and Settings().top_k == 7
