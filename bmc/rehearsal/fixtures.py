"""The stand-ins of the paper rehearsal, built once in a folder (`rehearsal.folder`, default resources/rehearsal):

- `hf/`: a Hugging Face cache (the jobs' `HF_HOME`, read with `HF_HUB_OFFLINE=1`) holding, under the paper's hub
  ids, tiny random Llamas whose tokenizers have no pad token, like Llama-2's and Llama-3's: the base model
  (no chat template) and the released instruction-following SFT models (with one);
- `bmc-release.git`: a git repository in the layout of the authors' repository, one small stand-in file at every
  path the shipped manifest lists (made from the shipped data subsets where they have the layout), and
  `bmc_release.yaml`, the manifest of its commit and checksums;
- `resources/`: the shipped inputs with the instruction-following test sets cut to their first questions;
- `references/`, `ultrafeedback/`: the reference answers (AlpacaEval 2's GPT-4 Turbo outputs, Arena-Hard's
  GPT-4-0314 answers) and UltraFeedback's pairs, in the layouts the paper scale reads.

`prepare` returns the config the rehearsal fills in (the release's url, commit and manifest). A path of the
manifest without a stand-in fails, naming it: a new file of the paper's release must get one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from bmc.data.release import blob_sha1, count_rows, load_manifest
from bmc.io import atomic_path, write_json, write_text

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "workflow" / "resources"
TOKENIZER = SHIPPED / "smollm2-tokenizer"
STAND_INS = Path(__file__).resolve().parent / "stand_ins"
# hub id -> (seed, chat template): the paper's base model and released SFT models
MODELS = {
    "meta-llama/Llama-2-7b-hf": (11, False),
    "princeton-nlp/Llama-3-Base-8B-SFT": (12, True),
    "alignment-handbook/zephyr-7b-sft-full": (13, True),
}
QA_SETS = {"ECQA": "ECQA", "QASC": "QASC", "OpenbookQA": "OBQA", "ARC": "ARC"}  # release folder -> shipped
ROWS = {"train": 2, "validation": 2, "test": 3}  # QA rows per split
TEST_ROWS = 3  # math and instruction-following test rows per set
PAIRS = 8  # rows of each preference set (UltraFeedback and the authors' bridged sets)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@localhost",
    "GIT_COMMITTER_NAME": "rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@localhost",
    "GIT_AUTHOR_DATE": "2024-08-14T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-08-14T00:00:00+00:00",
}


def prepare(folder: str | Path, manifests: dict[str, str | Path]) -> dict:
    """Build the stand-ins in `folder` unless they are there for this version and these manifests (`release`:
    the authors' repository's, `arena_hard_prompt`: Arena-Hard's); returns, per manifest, the config values of
    its stand-in repository: `url` (absolute), `commit` and `manifest`."""
    folder = Path(folder)
    digests = {
        name: hashlib.sha256(Path(m).read_bytes()).hexdigest() for name, m in sorted(manifests.items())
    }
    code = [Path(__file__), *sorted(STAND_INS.glob("*.py"))]  # a changed stand-in rebuilds the folder
    stamp = {"manifests": digests, "code": hashlib.sha256(b"".join(p.read_bytes() for p in code)).hexdigest()}
    record = folder / "prepared.json"
    prepared = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
    if prepared.get("stamp") != stamp:
        if folder.exists():
            shutil.rmtree(folder)
        with atomic_path(folder) as tmp:
            tmp.unlink()
            built = build(tmp, {name: Path(m) for name, m in manifests.items()})
        prepared = {"stamp": stamp, "repositories": built}
        write_json(record, prepared)
    return {
        name: {
            "url": os.path.abspath(folder / repo["url"]),
            "commit": repo["commit"],
            "manifest": str(folder / repo["manifest"]),
        }
        for name, repo in prepared["repositories"].items()
    }


def build(folder: Path, manifests: dict[str, Path]) -> dict:
    """Every stand-in in `folder`; returns, per manifest, its repository's url and manifest (relative to
    `folder`) and commit."""
    for repo_id, (seed, chat) in MODELS.items():
        tiny_llama(hub_snapshot(folder / "hf", repo_id), seed, chat)
    lay_out_df_gamed(folder / "hf" / "hub")
    shipped_copy(folder / "resources")
    tests = instruction_tests()
    references(folder / "references", tests)
    write_parquet(folder / "ultrafeedback" / "train_prefs.parquet", preference_rows("ultrafeedback", tests))
    makers = {"release": stand_in, "arena_hard_prompt": arena_hard_stand_in}
    built = {}
    for name, manifest in manifests.items():
        commit = stand_in_repo(folder / f"{name}.git", manifest, folder / f"{name}.yaml", makers[name])
        built[name] = {"url": f"{name}.git", "commit": commit, "manifest": f"{name}.yaml"}
    return built


# ---- the hub -------------------------------------------------------------------------------------------
def hub_snapshot(hf_home: Path, repo_id: str, repo_type: str = "model") -> Path:
    """A new snapshot folder of `repo_id` in the hub cache of `hf_home`, which `main` resolves to offline."""
    kind = {"model": "models", "dataset": "datasets"}[repo_type]
    root = hf_home / "hub" / f"{kind}--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"rehearsal {repo_type} {repo_id}".encode()).hexdigest()
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    return snapshot


def tiny_llama(out: Path, seed: int, chat_template: bool) -> None:
    """A random 2-layer Llama with the shipped SmolLM2 tokenizer, without a pad token (as Llama-2's and
    Llama-3's), and with a chat template only if `chat_template`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(TOKENIZER))
    tok.pad_token = None
    if not chat_template:
        tok.chat_template = None
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)  # the hub's Llamas are bf16
    tok.save_pretrained(out)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):  # no pad token left in any file
        path = out / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            data.pop("pad_token", None)
            path.write_text(json.dumps(data, indent=2), encoding="utf-8")


# ---- data ----------------------------------------------------------------------------------------------
def jsonl_rows(path: Path, n: int, drop: tuple[str, ...] = ("line", "file")) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and len(rows) < n:
                rows.append({k: v for k, v in json.loads(line).items() if k not in drop})
    return rows


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_parquet(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)


def instruction_tests() -> dict[str, list[dict]]:
    """The first test rows of the shipped AlpacaEval and Arena-Hard sets."""
    alpaca = json.loads((SHIPPED / "data/if/alpaca_eval.json").read_text(encoding="utf-8"))[:TEST_ROWS]
    arena = jsonl_rows(SHIPPED / "data/if/arena_hard.jsonl", TEST_ROWS)
    return {"alpaca_eval": alpaca, "arena_hard": arena}


def shipped_copy(folder: Path) -> None:
    """The shipped inputs (workflow/resources) with only the first test questions of AlpacaEval and Arena-Hard,
    the sets the paper scale reads from there (AlpacaEval's length control wants its first n, in order)."""
    shutil.copytree(SHIPPED, folder)
    tests = instruction_tests()
    write_text(folder / "data/if/alpaca_eval.json", json.dumps(tests["alpaca_eval"], indent=1) + "\n")
    write_text(folder / "data/if/arena_hard.jsonl", jsonl_text(tests["arena_hard"]))


def references(folder: Path, tests: dict[str, list[dict]]) -> None:
    """AlpacaEval 2's baseline outputs and Arena-Hard's GPT-4-0314 answers for the stand-in test questions."""
    baseline = [
        {
            "instruction": r["instruction"],
            "output": f"A reference answer to: {r['instruction'][:60]}",
            "generator": "gpt4_1106_preview",
            "dataset": r.get("dataset", ""),
        }
        for r in tests["alpaca_eval"]
    ]
    write_text(folder / "alpaca_eval_gpt4_baseline.json", json.dumps(baseline, indent=1) + "\n")
    answers = [
        {
            "question_id": r["question_id"],
            "model_id": "gpt-4-0314",
            "choices": [
                {"index": 0, "turns": [{"content": f"A GPT-4 answer to: {r['turns'][0]['content'][:60]}"}]}
            ],
        }
        for r in tests["arena_hard"]
    ]
    write_text(folder / "arena-hard-v0.1" / "model_answer" / "gpt-4-0314.jsonl", jsonl_text(answers))


def preference_rows(kind: str, tests: dict[str, list[dict]] | None = None) -> list[dict]:
    """Pairs in alignment-handbook's layout (`prompt`, `prompt_id`, `chosen` and `rejected` message lists,
    `messages`, scores): UltraFeedback's from the instruction-following prompts, the authors' bridged QA and
    math pairs from the shipped solutions (the rejected one with another final answer)."""
    if kind in ("ultrafeedback", "if"):
        prompts = [r["instruction"] for r in (tests or instruction_tests())["alpaca_eval"]]
        prompts += [f"Write {n} short sentences about the sea." for n in range(2, 2 + PAIRS)]
        items = [(p, f"Here is a careful answer. {p[:40]}", f"Answer. {p[:20]}") for p in prompts[:PAIRS]]
    elif kind == "qa":
        rows = jsonl_rows(SHIPPED / "data/qa/ECQA/train.jsonl", PAIRS)
        items = [
            (r["problem"], r["solution"], r["solution"].rsplit("The answer is", 1)[0] + "The answer is none")
            for r in rows
        ]
    else:  # questions of the stand-in chain-of-thought pool that have a final answer (their gold)
        from bmc.data.math import parse_cot

        parsed = [parse_cot(r) for r in json.loads("[" + ",".join(math_pool_rows()) + "]")]
        usable = [q for q in parsed if isinstance(q, dict)][:PAIRS]
        items = [
            (
                q["question"],
                q["solution"],
                q["solution"].rsplit("The answer is", 1)[0] + "The answer is: $-1$.",
            )
            for q in usable
        ]
    out = []
    for i, (prompt, chosen, rejected) in enumerate(items):
        user = {"role": "user", "content": prompt}
        out.append(
            {
                "prompt": prompt,
                "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
                "chosen": [user, {"role": "assistant", "content": chosen}],
                "rejected": [user, {"role": "assistant", "content": rejected}],
                "messages": [user, {"role": "assistant", "content": chosen}],
                "score_chosen": 8.0,
                "score_rejected": 4.0 + i % 3,
            }
        )
    return out


def qa_split(src: str) -> str:
    folder, split = re.fullmatch(r"eval/QA/(\w+)/data/(train|validation|test)\.jsonl", src).groups()
    shipped = SHIPPED / "data/qa" / QA_SETS[folder] / f"{'train' if split == 'train' else 'test'}.jsonl"
    return jsonl_text(jsonl_rows(shipped, ROWS[split]))


def math_pool_rows(file: str = "math/finetune_data_sampled.jsonl") -> list[str]:
    """The first 16 shipped rows of a released chain-of-thought file, as JSON lines of its layout."""
    rows = [r for r in jsonl_rows(SHIPPED / "data/math/train.jsonl", 400, drop=()) if r["file"] == file]
    return [json.dumps({"input": r["input"], "output": r["output"]}, ensure_ascii=False) for r in rows[:16]]


def math_pool(src: str) -> str:
    return "".join(line + "\n" for line in math_pool_rows("math/" + Path(src).name))


def math_test(src: str) -> str:
    name = Path(src).parent.name
    shipped = SHIPPED / "data/math" / name / "test.jsonl"
    if shipped.is_file():
        return jsonl_text(jsonl_rows(shipped, TEST_ROWS))
    made = {
        "svamp": [
            {"Body": f"Ann has {n} apples.", "Question": "How many apples does she have?", "Answer": float(n)}
            for n in (3, 5, 8)
        ],
        "asdiv": [
            {"body": f"Bob has {n} pens.", "question": "How many pens does he have?", "answer": f"{n} (pens)"}
            for n in (2, 4, 9)
        ],
        "tabmwp": [
            {
                "question": "How many more stamps does Ann have than Bob?",
                "choices": None,
                "answer": "400",
                "unit": None,
                "table_title": "Stamp collections",
                "table": "Name | Stamps\nAnn | 1,200\nBob | 800",
                "solution": "1,200 - 800 = 400.",
                "ans_type": "integer_number",
            },
            {
                "question": "Who has more stamps?",
                "choices": ["Ann", "Bob"],
                "answer": "Ann",
                "unit": None,
                "table_title": None,
                "table": "Name | Stamps\nAnn | 1,200\nBob | 800",
                "solution": "Ann has 1,200.",
                "ans_type": "extractive_text",
            },
            {
                "question": "What share of the stamps does Bob have?",
                "choices": None,
                "answer": "40%",
                "unit": None,
                "table_title": "Stamp collections",
                "table": "Name | Stamps\nAnn | 1,200\nBob | 800",
                "solution": "800 / 2,000 = 40%.",
                "ans_type": "decimal_number",
            },
        ],
    }
    if name not in made:
        raise KeyError(name)
    return jsonl_text(made[name])


def qa_sft(path: Path) -> None:
    rows = jsonl_rows(SHIPPED / "data/qa/sft.jsonl", 24)
    write_parquet(path, [{"prompt_id": r["prompt_id"], "messages": r["messages"]} for r in rows])


def math_sft(path: Path) -> None:
    rows = jsonl_rows(SHIPPED / "data/math/train.jsonl", 40)[16:40]
    messages = [
        [
            {
                "role": "user",
                "content": r["input"].split("## Question\n", 1)[-1].split("\n\n## Solution", 1)[0],
            },
            {"role": "assistant", "content": r["output"]},
        ]
        for r in rows
    ]
    write_parquet(path, [{"prompt_id": f"math-sft-{i}", "messages": m} for i, m in enumerate(messages)])


def bridged_set(kind: str) -> Callable[[Path], None]:
    return lambda path: write_parquet(path, preference_rows(kind))


def script(name: str) -> Callable[[str], str]:
    return lambda src: (STAND_INS / name).read_text(encoding="utf-8")


# repository path pattern -> the text of its stand-in, or a writer of a binary file at a path
TEXT: list[tuple[str, Callable[[str], str]]] = [
    (r"LICENSE", lambda src: (SHIPPED / "data/qa/LICENSE-bmc-repo").read_text(encoding="utf-8")),
    # the authors' grading code: scripts with their interfaces, grading by the suite's re-implementation
    (r"eval/QA/\w+/eval\.py", script("qa_eval.py")),
    (r"eval/math/eval/parser\.py", script("math_parser.py")),
    (r"eval/math/eval/grader\.py", script("math_grader.py")),
    (r"eval/math/eval/utils\.py", script("math_utils.py")),
    (r"eval/math/eval/latex2sympy/latex2sympy2\.py", script("latex2sympy2.py")),
    (
        r"eval/math/eval/(examples\.py|LICENSE|latex2sympy/.*)",
        lambda src: "# stand-in: not read by the rehearsal\n",
    ),
    (r"eval/QA/\w+/data/(train|validation|test)\.jsonl", qa_split),
    (r"eval/math/data/(finetune_data_sampled|cot_pretrain_data_sampled)\.jsonl", math_pool),
    (r"eval/math/eval/data/[\w-]+/test\.jsonl", math_test),
    (
        r"eval/alpacaeval2/alpaca_eval\.json",
        lambda src: json.dumps(instruction_tests()["alpaca_eval"], indent=1),
    ),
    (r"eval/arenahard/arena_hard\.jsonl", lambda src: jsonl_text(instruction_tests()["arena_hard"])),
]
BINARY: list[tuple[str, Callable[[Path], None]]] = [
    (r"training_data/qa_sft/[\w-]+\.parquet", qa_sft),
    (r"training_data/math_sft/[\w-]+\.parquet", math_sft),
    (r"training_data/qa_dpo_bmc/[\w-]+\.parquet", bridged_set("qa")),
    (r"training_data/math_dpo_bmc/[\w-]+\.parquet", bridged_set("math")),
    (r"training_data/ultrafeedback_dpo_bmc/[\w-]+\.parquet", bridged_set("if")),
]


def stand_in(src: str, path: Path) -> None:
    """Write the stand-in of repository path `src` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for pattern, text in TEXT:
        if re.fullmatch(pattern, src):
            path.write_text(text(src), encoding="utf-8")
            return
    for pattern, writer in BINARY:
        if re.fullmatch(pattern, src):
            writer(path)
            return
    raise KeyError(src)


def arena_hard_stand_in(src: str, path: Path) -> None:
    """Stand-ins of Arena-Hard's judge config and judging script, in their layout and wording of our own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if src == "config/judge_config.yaml":
        config = {
            "bench_name": "arena-hard-v0.1",
            "judge_model": "gpt-4-1106-preview",
            "temperature": 0,
            "max_tokens": 4096,
            "regex_pattern": r"\[\[([AB<>=]+)\]\]",
            "number_of_judgment_attempts": 2,
            "system_prompt": "Stand-in judge prompt of the rehearsal: compare the two answers and end with one "
            "verdict label, [[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]].",
            "prompt_template": [
                "<|Prompt|>\n{question_1}\n\n<|Answer A|>\n{answer_1}\n\n<|Answer B|>\n{answer_2}"
            ],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    elif src == "gen_judgment.py":
        path.write_text(
            '"""Stand-in of Arena-Hard\'s judging script: the follow-up turn of its judgment()."""\n\n\n'
            "def judgment(conv):\n"
            '    conv.append({"role": "user", "content": "Stand-in follow-up: give your final verdict label."})\n'
            "    return conv\n",
            encoding="utf-8",
        )
    else:
        raise KeyError(src)


def lay_out_df_gamed(hub_cache: Path) -> None:
    """The stand-in `df_gamed.csv` the alpaca_eval library's length control downloads from the hub."""
    from bmc.standin.alpaca_eval_hub import lay_out

    lay_out(hub_cache)


def stand_in_repo(repo: Path, manifest: Path, out_manifest: Path, make: Callable[[str, Path], None]) -> str:
    """A git repository with a stand-in (`make(path in the repository, file)`) at every path of `manifest`,
    committed; writes the manifest of that commit (same paths and dests, the stand-ins' blobs) to
    `out_manifest` and returns the commit."""
    _, files = load_manifest(manifest)
    unknown = []
    for src in files:
        try:
            make(src, repo / src)
        except KeyError:
            unknown.append(src)
    if unknown:
        raise ValueError(f"the rehearsal has no stand-in for these files of {manifest}: {unknown}")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", f"stand-in of {manifest.name}"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    )
    commit = head.stdout.strip()
    entries = {}
    for src, entry in files.items():
        entries[src] = {**entry, "blob": blob_sha1(repo / src)}
        if "rows" in entry:  # the stand-in's own count
            entries[src]["rows"] = count_rows(repo / src)
    # the manifest's other sections (the release's pinned PyPI wheels) are real and kept as they are
    others = {
        k: v
        for k, v in yaml.safe_load(manifest.read_text(encoding="utf-8")).items()
        if k not in ("commit", "files")
    }
    write_text(out_manifest, yaml.safe_dump({"commit": commit, "files": entries, **others}, sort_keys=False))
    return commit
