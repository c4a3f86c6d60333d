"""Math data: validated, seeded subsets for SFT, pair building and evaluation (rule `data_math`).

The resources folder is either the shipped subsets (`train.jsonl`, rows carrying their released `file` and
`line`; `<SET>/test.jsonl`, rows carrying `line`) or the authors' release (its `math/` folder:
`finetune_data_sampled.jsonl`, `cot_pretrain_data_sampled.jsonl`, `<SET>/test.jsonl`; the release's root,
holding `math/`, is accepted too). The chain-of-thought pool is the rows of those two files with a final
"The answer is" ("## Code Solution" rows and released rows without the cue, most of
`cot_pretrain_data_sampled.jsonl`, are skipped and counted). Those two files are samples of JiuZhang3.0's
corpora that came with the math evaluation harness the authors copied, not the paper's training data.

Where the questions come from:
- shipped subsets: the pool, split disjointly by a seeded shuffle into `sft_n` SFT examples and `prefs_n`
  preference questions;
- the release (paper scale): SFT examples are the authors' math SFT set, `math_sft/*.parquet` beside
  `math/` (`messages`: one user turn then one assistant turn, and `prompt_id` if present), and the
  preference questions are those of the authors' preference set, `math_dpo_bmc/train-*.parquet`
  (alignment-handbook's layout, read as `bmc.data.released_pairs` reads it; each distinct user turn once, in
  file and row order). That set holds the prompt, GPT-4's pseudo-winning ỹ_w and the authors' y_l, but not
  y_w nor the gold answer: each question's reference solution is looked up by its text (whitespace
  normalised) in `math_sft`, then in the pool; its gold answer is the solution's last `\\boxed{}` or the
  span after its final "The answer is". A question found in neither fails the stage, listing the first
  ones (`prefs_without_gold: skip` drops them instead, counted in the summary). Without `math_sft/` the SFT
  examples are drawn from the pool; without `math_dpo_bmc/` the preference questions are the pool's.
Test questions are worded as the released evaluation words them (`question_text`: TabMWP's table, question and
optional choices; SVAMP's and ASDiv's body and question; "(Yes or No)" or "(True or False)" by the gold answer).
Writes `sft.jsonl`, `prefs.jsonl`, `test/<SET>.jsonl` and `summary.json`. Ids and `source` always
point into the released files, so a question has the same id whichever folder was read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.data import released_pairs
from bmc.data.qa import _check_unique, nonblank_line_numbers, read_parquet, subsample
from bmc.data.schemas import check_conversation
from bmc.evaluation.math_answers import ANSWER_CUE, extract_answer_span, gold_answer, last_boxed
from bmc.evaluation.math_released import released_gold
from bmc.io import InputError, iter_jsonl

if TYPE_CHECKING:
    from bmc.config import MathData

# released training files, relative to the release; pool order follows this order, then the line
TRAIN_FILES = ("math/finetune_data_sampled.jsonl", "math/cot_pretrain_data_sampled.jsonl")
SHIPPED_TRAIN = "train.jsonl"
TRAIN_FIELDS: dict[str, type | tuple[type, ...]] = {"input": str, "output": str}
SHIPPED_FIELDS: dict[str, type | tuple[type, ...]] = {**TRAIN_FIELDS, "file": str, "line": int}
NUMBER = (int, float)
TEST_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "gsm8k": {"question": str, "answer": str},
    "math-oai": {"problem": str, "answer": str},
    "mawps": {"input": str, "target": NUMBER},
    "svamp": {"Body": str, "Question": str, "Answer": NUMBER},
    "asdiv": {"body": str, "question": str, "answer": str},
    "tabmwp": {
        "question": str,
        "table": str,
        "table_title": (str, type(None)),
        "choices": (list, type(None)),
        "answer": str,
        "ans_type": str,
    },
}
SFT_DIR = "math_sft"  # the authors' math SFT set in the release, beside `math/`
PREFS_DIR = released_pairs.FOLDERS["math"]  # the authors' math preference set, beside `math/`
SHOWN_MISSING = 5  # questions without a gold solution named in the error
QUESTION_HEADER = "## Question\n"
SOLUTION_HEADERS = ("\n\n## Solution\n", "\n\n## Step-by-Step Solution\n")
CODE_HEADER = "## Code Solution"


def math_folder(resources: Path) -> tuple[Path, bool]:
    """(folder holding the math files, whether it is the shipped subset)."""
    if (resources / SHIPPED_TRAIN).is_file():
        return resources, True
    names = [Path(f).name for f in TRAIN_FILES]
    for folder in (resources, resources / "math"):
        if all((folder / name).is_file() for name in names):
            return folder, False
    raise InputError(resources, None, f"neither {SHIPPED_TRAIN} (shipped) nor {names} (released) found")


def strip_dollars(span: str) -> str:
    """`span` without one pair of surrounding `$` ("$905$" -> "905")."""
    if len(span) >= 2 and span.startswith("$") and span.endswith("$"):
        return span[1:-1].strip()
    return span


def parse_cot(row: dict) -> dict | str:
    """question, solution and answer of a chain-of-thought row, or an error message."""
    text = row["input"]
    start = text.find(QUESTION_HEADER)
    if start < 0:
        return "input should contain '## Question\\n' followed by the question"
    end = max(text.rfind(header) for header in SOLUTION_HEADERS)
    if end < start:
        return (
            "input should end with '\\n\\n## Solution\\n' (or '## Step-by-Step Solution') after the question"
        )
    question = text[start + len(QUESTION_HEADER) : end].strip()
    if not question:
        return "the question between '## Question' and '## Solution' is empty"
    # the cue is required: without it the extraction would fall back to the solution's last number
    answer = strip_dollars(extract_answer_span(row["output"])) if ANSWER_CUE in row["output"] else ""
    if not answer:
        return "output should end with a final answer 'The answer is: $X$.' with a non-empty X"
    return {"question": question, "solution": row["output"], "answer": answer}


def _check_shipped_source(row: dict) -> str | None:
    if row["file"] not in TRAIN_FILES:
        return f"field 'file' should be one of {list(TRAIN_FILES)}, got {row['file']!r}"
    if row["line"] < 1:
        return f"field 'line' should be a positive integer, got {row['line']!r}"
    return None


def _training_rows(folder: Path, shipped: bool) -> Iterator[tuple[Path, int, str, int, dict]]:
    """(path read, its line, released file, line in it, row) for every training row."""
    if shipped:
        path = folder / SHIPPED_TRAIN
        rows = iter_jsonl(path, required=SHIPPED_FIELDS, check=_check_shipped_source)
        for lineno, row in zip(nonblank_line_numbers(path), rows, strict=True):
            yield path, lineno, row["file"], row["line"], row
        return
    for file in TRAIN_FILES:
        path = folder / Path(file).name
        rows = iter_jsonl(path, required=TRAIN_FIELDS)
        for lineno, row in zip(nonblank_line_numbers(path), rows, strict=True):
            yield path, lineno, file, lineno, row


def load_training(resources: Path) -> tuple[list[dict], dict[str, int]]:
    """The pooled chain-of-thought questions (in released file and line order) and skip counts.

    Code-solution rows are skipped; released rows without the "The answer is" cue too (the shipped
    subset should hold none, so there such a row is an error). Any other row that does not parse
    raises InputError naming the file read and its line.
    """
    folder, shipped = math_folder(resources)
    skipped = {"skipped_code": 0, "skipped_no_answer": 0}
    pool = []
    for path, lineno, file, line, row in _training_rows(folder, shipped):
        if CODE_HEADER in row["input"]:
            skipped["skipped_code"] += 1
            continue
        if not shipped and ANSWER_CUE not in row["output"]:
            skipped["skipped_no_answer"] += 1
            continue
        parsed = parse_cot(row)
        if isinstance(parsed, str):
            raise InputError(path, lineno, parsed)
        kind = Path(file).name.removesuffix("_data_sampled.jsonl")
        source = {"file": file, "line": line}
        pool.append(
            {"id": f"math-{kind}-{line}", "task": "math", "dataset": "math-train", **parsed, "source": source}
        )
    if not pool:
        raise InputError(folder / SHIPPED_TRAIN if shipped else folder, None, "no usable training questions")
    pool.sort(key=lambda q: (TRAIN_FILES.index(q["source"]["file"]), q["source"]["line"]))
    _check_unique(folder, [q["id"] for q in pool])
    return pool, skipped


def split_pool(pool: list[dict], sft_n: int | None, prefs_n: int | None, seed: int) -> tuple[list, list]:
    """Disjoint (SFT, preference) subsets by a seeded shuffle, each kept in pool order.

    sft_n None takes half the pool, prefs_n None the rest; sizes are taken literally (0 = none).
    """
    sft_n = len(pool) // 2 if sft_n is None else sft_n
    prefs_n = len(pool) - sft_n if prefs_n is None else prefs_n
    if sft_n + prefs_n > len(pool):
        raise ValueError(
            f"data.math asks for sft_n {sft_n} + prefs_n {prefs_n} training questions, "
            f"but only {len(pool)} usable ones were found"
        )
    order = list(range(len(pool)))
    random.Random(f"{seed}:math-train").shuffle(order)
    sft, prefs = sorted(order[:sft_n]), sorted(order[sft_n : sft_n + prefs_n])
    return [pool[i] for i in sft], [pool[i] for i in prefs]


def release_folder(resources: Path, name: str) -> Path | None:
    """The release's `<name>/` folder (beside `math/`) if it holds parquet files; None for the shipped subsets."""
    folder, shipped = math_folder(resources)
    if shipped:
        return None
    for candidate in dict.fromkeys((resources / name, folder.parent / name)):
        if any(candidate.glob("*.parquet")):
            return candidate
    return None


def load_math_sft(folder: Path) -> list[dict]:
    """SFT examples (`id`, `messages`) of every `math_sft/*.parquet`: a `messages` column of one user turn
    then one assistant turn; ids from `prompt_id` if there is one, else the file and row."""
    examples = []
    for path in sorted(folder.glob("*.parquet")):
        frame = read_parquet(path)
        columns = list(frame.columns)
        if "messages" not in columns:
            raise InputError(
                path, None, f"expected a `messages` column (user and assistant turns); columns: {columns}"
            )
        ids = frame["prompt_id"] if "prompt_id" in columns else [None] * len(frame)
        for row_no, (pid, messages) in enumerate(zip(ids, frame["messages"], strict=True), 1):
            turns = [] if isinstance(messages, str) or messages is None else list(messages)
            if not turns or not all(hasattr(m, "keys") for m in turns):
                raise InputError(path, row_no, f"`messages` should be a list of turns (columns: {columns})")
            key = f"math_sft-{pid}" if pid is not None else f"math_sft-{path.stem}-{row_no}"
            row = {
                "id": key,
                "messages": [{"role": m.get("role"), "content": m.get("content")} for m in turns],
            }
            if msg := check_conversation(row):
                raise InputError(path, row_no, msg)  # row number in the parquet table
            examples.append(row)
    _check_unique(folder, [e["id"] for e in examples])
    return examples


def normalized(text: str) -> str:
    """A question's text with its whitespace runs made single spaces (the key of the gold lookup)."""
    return " ".join(text.split())


def reference_answer(solution: str) -> str:
    """The final answer a reference solution states: its last `\\boxed{}`, else the sentence after its last
    "The answer is"; "" when it states neither (a bare last number is never taken as gold)."""
    boxed = last_boxed(solution)
    if boxed is not None:
        return strip_dollars(boxed)
    return strip_dollars(extract_answer_span(solution)) if ANSWER_CUE in solution else ""


def gold_solutions(sft: list[dict], pool: list[dict]) -> dict[str, dict]:
    """Question text (normalised) -> {solution, answer, from, source}: the math SFT set's conversations that
    state a final answer first, then the pool's questions; the first of repeated questions is kept."""
    gold: dict[str, dict] = {}
    for row in sft:
        user, assistant = (m["content"] for m in row["messages"])
        if answer := reference_answer(assistant):
            ref = {"solution": assistant, "answer": answer, "from": SFT_DIR, "source": row["id"]}
            gold.setdefault(normalized(user), ref)
    for q in pool:
        ref = {"solution": q["solution"], "answer": q["answer"], "from": "pool", "source": q["id"]}
        gold.setdefault(normalized(q["question"]), ref)
    return gold


def released_questions(folder: Path, gold: dict[str, dict], without_gold: str) -> tuple[list[dict], dict]:
    """The distinct user turns of the release's math preference set (`math_dpo_bmc/train-*.parquet`), in
    file and row order, each with its gold solution and answer from `gold`, and the counts of the summary.

    A question without a gold solution fails naming the first ones, unless `without_gold` is "skip"."""
    questions, seen, missing = [], set(), []
    counts = {"rows": 0, "repeated": 0, "gold_from": {SFT_DIR: 0, "pool": 0}}
    release = folder.parent
    for path in released_pairs.train_files(release, "math"):
        frame = read_parquet(path)
        columns = released_pairs.check_columns(frame, path)
        for i, record in enumerate(frame.to_dict("records"), 1):
            counts["rows"] += 1
            user = released_pairs.row_turns(record, columns, path, i)[0]
            key = normalized(user)
            if key in seen:
                counts["repeated"] += 1
                continue
            seen.add(key)
            source = {"file": f"{PREFS_DIR}/{path.name}", "row": i}
            if record.get("prompt_id") is not None:
                source["prompt_id"] = str(record["prompt_id"])
            if key not in gold:
                missing.append(f"{path.name} row {i}: {user[:80]!r}")
                continue
            ref = gold[key]
            counts["gold_from"][ref["from"]] += 1
            questions.append(
                {
                    "id": f"{PREFS_DIR}-{counts['rows']}",
                    "task": "math",
                    "dataset": "math-train",
                    "question": user.strip(),
                    "solution": ref["solution"],
                    "answer": ref["answer"],
                    "source": {**source, "gold": ref["source"]},
                }
            )
    if missing and without_gold != "skip":
        shown = "; ".join(missing[:SHOWN_MISSING]) + (" ..." if len(missing) > SHOWN_MISSING else "")
        raise InputError(
            folder,
            None,
            f"{len(missing)} of {len(seen)} questions have no gold solution in {SFT_DIR}/ nor the chain-of-thought "
            f"pool ({shown}); set data.math.prefs_without_gold: skip to leave them out",
        )
    if not questions:
        raise InputError(folder, None, f"no question with a gold solution in {counts['rows']} rows")
    return questions, {**counts, "without_gold": len(missing)}


def sft_example(question: dict) -> dict:
    """A chat SFT row: the question as the user turn, the released solution as the assistant turn."""
    messages = [
        {"role": "user", "content": question["question"]},
        {"role": "assistant", "content": question["solution"]},
    ]
    row = {"id": question["id"], "messages": messages}
    if msg := check_conversation(row):
        raise InputError(question["source"]["file"], question["source"]["line"], msg)
    return row


def tabmwp_question(row: dict) -> str:
    """A TabMWP problem as the released evaluation words it: the table (with its title if any), the question
    and, for multiple-choice rows, the options (a Python list, as printed there)."""
    title = f'regarding "{row["table_title"]}" ' if row["table_title"] else ""
    text = f"Read the following table {title}and answer a question:\n{row['table']}\n{row['question']}"
    if row["choices"]:
        text += f" Please select from the following options: {row['choices']}"
    return text


# what the released evaluation adds to a question by its gold answer (lower-cased)
ANSWER_KIND_CUES = {
    "yes": " (Yes or No)",
    "no": " (Yes or No)",
    "true": " (True or False)",
    "false": " (True or False)",
}


def question_text(row: dict, name: str) -> str:
    """The question of a released test row as the released evaluation words it (its `parse_question`): SVAMP
    and ASDiv join the stripped body and question, SVAMP's body ending with a "." (one is added where it has
    none); a question whose gold answer (under the released rule) is yes/no or true/false ends with
    "(Yes or No)" or "(True or False)"; the whole stripped."""
    if name == "tabmwp":
        text = tabmwp_question(row)
    elif name == "svamp":
        body = row["Body"].strip()
        text = f"{body if body.endswith('.') else body + '.'} {row['Question'].strip()}"
    elif name == "asdiv":
        text = f"{row['body'].strip()} {row['question'].strip()}"
    else:
        text = row[{"gsm8k": "question", "math-oai": "problem", "mawps": "input"}[name]]
    gold = released_gold(gold_answer(row, name).strip(), name)
    return (text + ANSWER_KIND_CUES.get(gold.lower(), "")).strip()


def _check_line(row: dict) -> str | None:
    if "line" in row and (type(row["line"]) is not int or row["line"] < 1):
        return f"field 'line' should be a positive integer, got {row['line']!r}"
    return None


def load_test(resources: Path, name: str) -> list[dict]:
    """Every row of `<name>/test.jsonl` as a validated math question record."""
    path = math_folder(resources)[0] / name / "test.jsonl"
    if not path.is_file():
        raise InputError(
            path, None, f"missing test set {name} (the shipped folder has gsm8k, math-oai, mawps)"
        )
    rows = iter_jsonl(path, required=TEST_FIELDS[name], check=_check_line)
    questions = []
    for lineno, row in zip(nonblank_line_numbers(path), rows, strict=True):
        try:
            answer = gold_answer(row, name).strip()
        except (IndexError, ValueError) as e:
            raise InputError(path, lineno, f"no gold answer ({type(e).__name__}: {e})") from None
        question = question_text(row, name).strip()
        if not question or not answer:
            raise InputError(path, lineno, f"empty {'question' if not question else 'gold answer'}")
        line = row.get("line", lineno)  # shipped rows keep their line in the released file
        questions.append(
            {
                "id": f"{name}-test-{line}",
                "task": "math",
                "dataset": name,
                "question": question,
                "answer": answer,
                "source": {"file": f"math/{name}/test.jsonl", "line": line},
            }
        )
    if not questions:
        raise InputError(path, None, f"test set {name} has no rows")
    _check_unique(path, [q["id"] for q in questions])
    return questions


def training_sets(resources: Path, settings: MathData) -> tuple[list[dict], list[dict], dict]:
    """(SFT examples, preference questions, their part of the summary) from the folders `resources` holds."""
    seed = settings.seed
    pool, skipped = load_training(resources)
    summary: dict = {"pool": {"n": len(pool), **skipped}}
    sft_dir, prefs_dir = release_folder(resources, SFT_DIR), release_folder(resources, PREFS_DIR)
    if sft_dir is None and prefs_dir is None:  # SFT and preference questions split the pool
        sft, prefs = split_pool(pool, settings.sft_n, settings.prefs_n, seed)
        summary["sft"] = {"n": len(sft), "available": len(pool)}
        summary["prefs"] = {"math-train": {"n": len(prefs), "available": len(pool) - len(sft)}}
        return [sft_example(q) for q in sft], prefs, summary
    released_sft = load_math_sft(sft_dir) if sft_dir else []
    if sft_dir:
        sft_rows = subsample(released_sft, settings.sft_n, seed, "math_sft")
        summary["sft"] = {"n": len(sft_rows), "available": len(released_sft), "source": str(sft_dir)}
    else:
        sft_rows = [sft_example(q) for q in subsample(pool, settings.sft_n, seed, "math-train-sft")]
        summary["sft"] = {"n": len(sft_rows), "available": len(pool)}
    if prefs_dir:
        gold = gold_solutions(released_sft, pool)
        questions, counts = released_questions(prefs_dir, gold, settings.prefs_without_gold)
        prefs = subsample(questions, settings.prefs_n, seed, PREFS_DIR)
        found = {"n": len(prefs), "available": len(questions), "source": str(prefs_dir), **counts}
    else:
        prefs = subsample(pool, settings.prefs_n, seed, "math-train")
        found = {"n": len(prefs), "available": len(pool)}
    summary["prefs"] = {"math-train": found}
    return sft_rows, prefs, summary


def build(resources: Path, settings: MathData) -> tuple[list, list, dict[str, list], dict]:
    """(SFT examples, preference questions, test questions per set, summary) of the `data.math` settings."""
    sft_rows, prefs, training = training_sets(resources, settings)
    summary: dict = {"seed": settings.seed, "resources": str(resources), **training, "test": {}}
    tests = {}
    for name in settings.datasets:
        rows = load_test(resources, name)
        tests[name] = subsample(rows, settings.test_n, settings.seed, f"{name}-test")
        summary["test"][name] = {"n": len(tests[name]), "available": len(rows)}
    return sft_rows, prefs, tests, summary
