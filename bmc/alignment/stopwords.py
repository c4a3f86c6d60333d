"""Stop-word token ids: tokens never marked as varied by the diff masks (BMC §3.2).

The list is NLTK's English stop words (shipped, since NLTK's downloader needs the network) plus the
capitalised forms of the words longer than one letter, as in the released code. A word counts only if
the tokenizer maps it to a single token. By default each word is tokenised bare, as the released code
does: for SentencePiece tokenizers (Llama-2) that is already the running-text form ("▁the"), but with
byte-level BPE tokenizers (Llama-3, SmolLM2) a word inside running text is its space-prefixed token
(" the"), which the bare form misses; `with_leading_space=True` adds those forms too.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def load_stopwords() -> tuple[str, ...]:
    """NLTK's English stop words (179), in NLTK's order."""
    text = resources.files("bmc.alignment").joinpath("stopwords_en.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def stopword_ids(tokenizer, with_leading_space: bool = False) -> frozenset[int]:
    """Ids of the stop words (and capitalised forms) that the tokenizer encodes as a single token."""
    key = (getattr(tokenizer, "name_or_path", None), len(tokenizer), with_leading_space)
    cached = _CACHE.get(key)
    if cached is None:
        words = {
            w for word in load_stopwords() for w in ((word, word.capitalize()) if len(word) > 1 else (word,))
        }
        variants = [
            w for word in sorted(words) for w in ((word, " " + word) if with_leading_space else (word,))
        ]
        ids = set()
        for w in variants:
            tokens = tokenizer.encode(w, add_special_tokens=False)
            if len(tokens) == 1:
                ids.add(tokens[0])
        cached = _CACHE[key] = frozenset(ids)
    return cached


_CACHE: dict[tuple, frozenset[int]] = {}
