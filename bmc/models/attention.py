"""The attention kernels a model can be loaded with (`train.attn_implementation`, `sft.attn_implementation`).

transformers' own: `sdpa` (PyTorch's scaled dot-product attention, its default), `eager`, and on CUDA
`flash_attention_2` / `flash_attention_3` (the flash-attn package), which run each sequence of a padding-free
batch on its own (varlen). On a padding-free batch transformers' `sdpa` and `eager` attend over the whole
packed row of N tokens under a block-diagonal mask: exact, but N² work instead of Σ n_i², which on a CPU costs
more than the padding saved (a 4-layer SmolLM2-shaped model, 16 sequences of 120-380 tokens: 1.75 times the
padded batch's time). The suite therefore registers `sdpa_varlen`: PyTorch's SDPA run on each sequence of a
padding-free batch (causal, no mask), the varlen form FlashAttention has on GPUs; on a padded batch it is
transformers' `sdpa`. Importing this module registers it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_flash_attention_utils import (
    _is_packed_sequence,
    prepare_fa_kwargs_from_position_ids,
)

SDPA_VARLEN = "sdpa_varlen"
FLASH = ("flash_attention_2", "flash_attention_3")
# the kernels a config may name (checked when the config is read)
KERNELS = ("sdpa", "eager", SDPA_VARLEN, *FLASH)


def sdpa_varlen_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    cu_seq_lens_k: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """(batch, seq, heads, dim) attention output: per sequence on a padding-free batch (its boundaries from
    `cu_seq_lens_q`, else from the restarts of `position_ids`), else transformers' SDPA."""
    if cu_seq_lens_q is None and attention_mask is None and _is_packed_sequence(position_ids, query.shape[0]):
        (cu_seq_lens_q, cu_seq_lens_k), _ = prepare_fa_kwargs_from_position_ids(position_ids)
    if cu_seq_lens_q is None:
        return sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout,
            scaling,
            is_causal,
            position_ids=position_ids,
            **kwargs,
        )
    if query.shape[0] != 1 or (cu_seq_lens_k is not None and not torch.equal(cu_seq_lens_q, cu_seq_lens_k)):
        raise ValueError("sdpa_varlen takes one packed row of sequences attending to themselves")
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    bounds = cu_seq_lens_q.tolist()
    parts = [
        F.scaled_dot_product_attention(
            query[:, :, a:b],
            key[:, :, a:b],
            value[:, :, a:b],
            dropout_p=dropout,
            is_causal=causal,
            scale=scaling,
        )
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


def sdpa_varlen_mask(*args, attention_mask: torch.Tensor | None = None, **kwargs):
    """No mask for a batch without padding (the attention keeps packed sequences apart), else SDPA's."""
    return None if attention_mask is None else sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


AttentionInterface.register(SDPA_VARLEN, sdpa_varlen_forward)
AttentionMaskInterface.register(SDPA_VARLEN, sdpa_varlen_mask)


def check_available(kernel: str | None) -> None:
    """Fail before any model loads when a FlashAttention kernel cannot run here, naming the fix."""
    if kernel not in FLASH:
        return
    package = "flash_attn_interface" if kernel == "flash_attention_3" else "flash_attn"
    import importlib.util

    if not torch.cuda.is_available() or importlib.util.find_spec(package) is None:
        raise RuntimeError(
            f"attn_implementation {kernel} needs a CUDA GPU and the {package} package (envs/train.yaml installs "
            f"flash-attn on Linux with CUDA); on a CPU set attn_implementation: {SDPA_VARLEN} or sdpa"
        )
