"""Kill -9 drill for generation: the generate stage (a subprocess) is killed during its second test set, then
rerun; no finished answer is generated again, none is lost or duplicated, and the answers equal an
uninterrupted run's."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETS = ("ECQA", "QASC", "ARC")
PARAMS = {"backend": "transformers", "max_new_tokens": 6, "batch_size": 1, "dtype": "float32"}


def write_sets(folder: Path, n: int = 16) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SETS:
        rows = [
            {"id": f"{name}-{i}", "dataset": name, "question": f"Question {i} of {name}?", "answer": "a"}
            for i in range(n)
        ]
        paths.append(folder / f"{name}.jsonl")
        paths[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


def argv(model: Path, data: list[Path], out: Path) -> list[str]:
    outs = [str(out / f"{p.stem}.jsonl") for p in data]
    return [sys.executable, "-m", "bmc.cli", "generate", "--task", "qa", "--model", str(model),
            "--data", *map(str, data), "--out", *outs, "--params", json.dumps(PARAMS)]  # fmt: skip


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def test_kill_9_mid_generation_then_rerun_answers_no_finished_item_twice(tiny_model_dir, tmp_path):
    data = write_sets(tmp_path / "data")
    out, reference = tmp_path / "out", tmp_path / "reference"
    out.mkdir()
    reference.mkdir()
    subprocess.run(
        argv(tiny_model_dir, data, reference), cwd=REPO, check=True, capture_output=True, timeout=300
    )

    second = out / "QASC.jsonl.partial.jsonl"
    with open(tmp_path / "run1.log", "wb") as log:
        proc = subprocess.Popen(
            argv(tiny_model_dir, data, out), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:  # killed once the first set is done and the second has some answers
            deadline = time.monotonic() + 240
            while len(lines(second)) < 3:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    "the drill's point was not reached"
                )
                time.sleep(0.02)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    done = {name: len(lines(out / f"{name}.jsonl.partial.jsonl")) for name in SETS}
    assert done["ECQA"] == 16 and 3 <= done["QASC"] < 16 and done["ARC"] == 0

    rerun = subprocess.run(
        argv(tiny_model_dir, data, out), cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    resumed = dict(re.findall(r"resuming \S+/(\w+)\.jsonl: (\d+) of 16 items already done", rerun.stderr))
    assert {k: int(v) for k, v in resumed.items()} == {k: v for k, v in done.items() if v}  # none asked twice
    for name in SETS:
        rows = lines(out / f"{name}.jsonl")
        assert [r["id"] for r in rows] == [f"{name}-{i}" for i in range(16)]  # none lost, none duplicated
        assert rows == lines(reference / f"{name}.jsonl")  # the answers an uninterrupted run gives
        assert not (out / f"{name}.jsonl.partial.jsonl").exists()
