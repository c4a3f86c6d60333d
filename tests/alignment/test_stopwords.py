from transformers import AutoTokenizer

from bmc.alignment.stopwords import load_stopwords, stopword_ids


def test_shipped_list_is_nltk_english():
    words = load_stopwords()
    assert len(words) == 179 and len(set(words)) == 179
    assert words[:4] == ("i", "me", "my", "myself") and words[-1] == "wouldn't"


def test_only_single_token_words_with_capitalised_forms(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = stopword_ids(tok, with_leading_space=True)
    bare = stopword_ids(tok)  # the released code's form: each word tokenised bare
    assert bare < ids
    for word in ("the", " the", "The", " The", " and"):
        (token,) = tok.encode(word, add_special_tokens=False)
        assert token in ids
        assert (token in bare) == (not word.startswith(" "))  # byte-level BPE: " the" is its own token
    assert tok.encode(" bacteria", add_special_tokens=False)[0] not in ids
    assert tok.encode(" A", add_special_tokens=False)[0] not in ids  # one-letter words are not capitalised
    multi = [w for w in load_stopwords() if len(tok.encode(w, add_special_tokens=False)) > 1]
    assert multi  # e.g. contractions: such words are left out, not split
    assert stopword_ids(tok, with_leading_space=True) is ids  # cached: computed once per tokenizer
