import pytest

from bmc.config import ModelSection
from bmc.models.prepare import build_random_llama


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A seeded 2-layer random Llama (hidden 64) with the shipped SmolLM2 tokenizer."""
    out = tmp_path_factory.mktemp("tiny-llama")
    build_random_llama(out, ModelSection(kind="random_llama", seed=0))
    return out
