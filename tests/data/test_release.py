"""The `release` stage against a small local git repository with the authors' paths."""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bmc.cli import main
from bmc.config import ConfigError, Release, job_settings
from bmc.data.release import ReleaseError, blob_sha1, build, count_rows, load_manifest, load_wheels
from bmc.evaluation.released_code import ANTLR_DIR, ANTLR_PIN, QA_FOLDERS, code_files

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MANIFEST = ROOT / "workflow" / "resources" / "bmc_release.yaml"
# repository path -> (dest, content at the pinned commit)
FILES = {
    "LICENSE": ("LICENSE-bmc-repo", b"Apache License 2.0\n"),
    "eval/QA/ECQA/data/train.jsonl": ("ECQA/train.jsonl", b'{"problem": "p"}\n'),
    "eval/math/eval/data/tabmwp/test.jsonl": ("math/tabmwp/test.jsonl", b'{"question": "q"}\n'),
    "training_data/math_sft/train-00000-of-00001.parquet": (
        "math_sft/train-00000-of-00001.parquet",
        bytes(range(256)) * 4,
    ),
    "training_data/qa_dpo_bmc/train-00000-of-00001.parquet": (
        "qa_dpo_bmc/train-00000-of-00001.parquet",
        b"PAR1",
    ),
}


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def source_repo(tmp_path) -> tuple[Path, str]:
    """A repository whose first commit holds FILES; a later commit changes one of them and adds another."""
    repo = tmp_path / "BMC"
    repo.mkdir()
    git(repo, "init", "-q")
    for path, (_, content) in FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(content)
    (repo / "README.md").write_text("not in the manifest\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pinned")
    pinned = git(repo, "rev-parse", "HEAD")
    (repo / "LICENSE").write_text("changed later\n")
    git(repo, "commit", "-qam", "later")
    return repo, pinned


def write_manifest(path: Path, repo: Path, commit: str, **override) -> Path:
    """A manifest of FILES with git's own blob ids (`git ls-tree`), some entries overridden."""
    blobs = {}
    for line in git(repo, "ls-tree", "-r", commit).splitlines():
        meta, name = line.split("\t", 1)
        blobs[name] = meta.split()[2]
    files = {src: {"dest": dest, "blob": blobs[src]} for src, (dest, _) in FILES.items()}
    files.update(override)
    path.write_text(yaml.safe_dump({"commit": commit, "files": files}))
    return path


def test_release_is_laid_out_from_the_pinned_commit_and_checked(tmp_path, source_repo):
    repo, pinned = source_repo
    manifest = write_manifest(tmp_path / "manifest.yaml", repo, pinned)
    out = tmp_path / "resources" / "bmc-release"
    params = json.dumps({"url": f"file://{repo}", "commit": pinned})
    main(["release", "--manifest", str(manifest), "--out", str(out), "--params", params])
    for dest, content in FILES.values():
        assert (out / dest).read_bytes() == content, dest  # the pinned commit's bytes, not the later ones
    assert not (out / "README.md").exists() and not (out / "LICENSE").exists()
    record = json.loads((out / "release.json").read_text())
    assert record["commit"] == pinned and record["url"] == f"file://{repo}"
    assert record["files"]["math/tabmwp/test.jsonl"]["source"] == "eval/math/eval/data/tabmwp/test.jsonl"
    # no staging folder left behind; beside the folder, the job's record (bmc.reporting.job_records)
    assert sorted(p.name for p in out.parent.iterdir()) == ["bmc-release", "bmc-release.provenance.json"]
    # a second run replaces the folder as a whole (a plain path works as the URL too, relative ones included)
    (out / "stale.txt").write_text("old")
    build(os.path.relpath(repo), pinned, manifest, out)
    assert not (out / "stale.txt").exists() and (out / "ECQA/train.jsonl").is_file()


def test_our_blob_checksum_is_gits(tmp_path, source_repo):
    repo, _ = source_repo
    for path in FILES:
        assert blob_sha1(repo / path) == git(repo, "hash-object", path)


def test_a_checksum_mismatch_names_each_file_and_writes_nothing(tmp_path, source_repo):
    repo, pinned = source_repo
    wrong = {"dest": "LICENSE-bmc-repo", "blob": "0" * 40}
    missing = {"dest": "math/gsm8k/test.jsonl", "blob": "1" * 40}
    manifest = write_manifest(
        tmp_path / "m.yaml", repo, pinned, LICENSE=wrong, **{"eval/math/eval/data/gsm8k/test.jsonl": missing}
    )
    out = tmp_path / "release"
    with pytest.raises(ReleaseError) as err:
        build(str(repo), pinned, manifest, out)
    message = str(err.value)
    assert "does not match" in message and "2 of 6 files" in message
    assert (
        f"LICENSE: blob {git(repo, 'rev-parse', f'{pinned}:LICENSE')}, the manifest expects {'0' * 40}"
        in message
    )
    assert f"eval/math/eval/data/gsm8k/test.jsonl: not in commit {pinned}" in message
    assert not out.exists() and list(tmp_path.glob(".release*")) == []


def test_an_unreachable_url_says_how_to_place_the_folder_by_hand(tmp_path, source_repo):
    repo, pinned = source_repo
    manifest = write_manifest(tmp_path / "m.yaml", repo, pinned)
    url = f"file://{tmp_path / 'nowhere'}"
    with pytest.raises(ReleaseError) as err:
        build(url, pinned, manifest, tmp_path / "release")
    message = str(err.value)
    assert f"could not fetch commit {pinned} of {url}" in message
    assert "place the release by hand" in message and "release.url" in message and str(manifest) in message
    assert not (tmp_path / "release").exists()


def test_a_repository_without_the_commit_is_refused(tmp_path, source_repo):
    repo, _ = source_repo
    unknown = "f" * 40
    manifest = write_manifest(tmp_path / "m.yaml", repo, "HEAD")
    manifest.write_text(manifest.read_text().replace("commit: HEAD", f"commit: {unknown}"))
    with pytest.raises(ReleaseError, match=f"could not fetch commit {unknown} of {repo}"):
        build(str(repo), unknown, manifest, tmp_path / "release")


def test_the_configured_commit_must_be_the_manifests(tmp_path, source_repo):
    repo, pinned = source_repo
    manifest = write_manifest(tmp_path / "m.yaml", repo, pinned)
    later = git(repo, "rev-parse", "HEAD")
    with pytest.raises(ReleaseError, match=f"release.commit {later} differs from the commit {pinned}"):
        build(str(repo), later, manifest, tmp_path / "release")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"commit": "958d49e"}, r"release\.commit: String should match pattern"),
        ({"url": "x", "branch": "main"}, r"release\.branch: unknown key"),
    ],
)
def test_bad_release_settings_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        job_settings(Release, json.dumps(params), "release")


def test_bad_manifest_entries_are_refused(tmp_path):
    good = {"dest": "a.txt", "blob": "a" * 40}
    for files, message in (
        ({"x": good, "y": good}, "repeats"),
        ({"x": {"dest": "../a", "blob": "a" * 40}}, "escapes"),
        ({"x": {"dest": "a", "blob": "xyz"}}, "blob should be 40 hex"),
        ({"x": {"dest": "a"}}, "the keys dest and blob, and optionally rows"),
        ({"x": {**good, "size": 3}}, "the keys dest and blob, and optionally rows"),
        ({"x": {**good, "rows": -1}}, "rows should be a non-negative integer"),
        ({"x": {**good, "rows": "12"}}, "rows should be a non-negative integer"),
    ):
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"commit": "a" * 40, "files": files}))
        with pytest.raises(ValueError, match=message):
            load_manifest(path)


def test_shipped_manifest_covers_what_the_paper_scale_reads():
    commit, files = load_manifest(SHIPPED_MANIFEST)
    assert commit == Release().commit
    paper = yaml.safe_load((ROOT / "workflow/config/paper.yaml").read_text())
    # paper scale pins the manifest's commit
    assert paper["release"] == Release().model_dump(include={"url", "commit"})
    dests = {entry["dest"] for entry in files.values()}
    for folder in ("ECQA", "QASC", "OpenbookQA", "ARC"):
        assert {f"{folder}/{split}.jsonl" for split in ("train", "validation", "test")} <= dests
    sets = ("gsm8k", "math-oai", "mawps", "svamp", "asdiv", "tabmwp")
    assert {f"math/{name}/test.jsonl" for name in sets} <= dests
    assert {"math/finetune_data_sampled.jsonl", "math/cot_pretrain_data_sampled.jsonl"} <= dests
    for folder in ("qa_sft", "math_sft", "qa_dpo_bmc", "math_dpo_bmc", "ultrafeedback_dpo_bmc"):
        assert any(d.startswith(f"{folder}/train-") and d.endswith(".parquet") for d in dests), folder
    assert files["LICENSE"]["dest"] == "LICENSE-bmc-repo"
    # the authors' grading code, where bmc.evaluation.released_code runs it from
    release = Path("release")
    needed = [p for d in QA_FOLDERS for p in code_files(release, "qa", d)] + code_files(
        release, "math", "gsm8k"
    )
    assert {str(p.relative_to(release)) for p in needed} <= dests


def test_recorded_row_counts_are_checked(tmp_path, source_repo):
    repo, pinned = source_repo
    train = {
        "dest": "ECQA/train.jsonl",
        "blob": git(repo, "rev-parse", f"{pinned}:eval/QA/ECQA/data/train.jsonl"),
    }
    manifest = write_manifest(
        tmp_path / "m.yaml", repo, pinned, **{"eval/QA/ECQA/data/train.jsonl": {**train, "rows": 1}}
    )
    build(str(repo), pinned, manifest, tmp_path / "ok")
    manifest = write_manifest(
        tmp_path / "m.yaml", repo, pinned, **{"eval/QA/ECQA/data/train.jsonl": {**train, "rows": 2}}
    )
    with pytest.raises(ReleaseError, match="eval/QA/ECQA/data/train.jsonl: 1 rows, the manifest records 2"):
        build(str(repo), pinned, manifest, tmp_path / "wrong")
    assert not (tmp_path / "wrong").exists()


def test_rows_are_counted_as_the_data_stages_read_them(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n\n{"x": 2}\n  \n')
    (tmp_path / "b.json").write_text('[{"x": 1}, {"x": 2}, {"x": 3}]')
    (tmp_path / "c.json").write_text('{"x": [1, 2]}')
    pd.DataFrame({"x": range(7)}).to_parquet(tmp_path / "d.parquet")
    (tmp_path / "e.py").write_text("print(1)\n")
    counts = [count_rows(tmp_path / n) for n in ("a.jsonl", "b.json", "c.json", "d.parquet", "e.py")]
    assert counts == [2, 3, None, 7, None]


def test_the_shipped_manifests_row_counts_are_those_of_the_released_files():
    """Each recorded count equals the file's, in the first laid-out release found ($BMC_RELEASE,
    /work/shared/data/bmc-release, resources/bmc-release)."""
    candidates = [
        os.environ.get("BMC_RELEASE"),
        "/work/shared/data/bmc-release",
        str(ROOT / "resources/bmc-release"),
    ]
    found = [Path(c) for c in candidates if c and (Path(c) / "ECQA").is_dir()]
    if not found:
        pytest.skip("no laid-out release to count ($BMC_RELEASE unset, no shared or resources copy)")
    shared = found[0]
    _, files = load_manifest(SHIPPED_MANIFEST)
    checked = 0
    for src, entry in files.items():
        if "rows" in entry and (shared / entry["dest"]).is_file():
            assert count_rows(shared / entry["dest"]) == entry["rows"], src
            checked += 1
    assert checked >= 20


# ---- pinned wheels ---------------------------------------------------------------------------------------------
def demo_wheel(folder: Path) -> tuple[Path, str]:
    """A small wheel as PyPI serves one (a package and its dist-info), and its sha256."""
    wheel = folder / "demo_runtime-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo_runtime/__init__.py", "VERSION = '1.0'\n")
        zf.writestr("demo_runtime-1.0.dist-info/METADATA", "Name: demo-runtime\nVersion: 1.0\n")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def fake_pip(monkeypatch, wheel: Path | None) -> list:
    """`pip download` as fetch_wheel runs it: copies `wheel` into its -d folder, or fails as offline (None)."""
    real, calls = subprocess.run, []

    def run(cmd, *args, **kwargs):
        if "download" not in cmd:
            return real(cmd, *args, **kwargs)
        calls.append(cmd)
        if wheel is None:
            raise subprocess.CalledProcessError(1, cmd)
        shutil.copy(wheel, cmd[cmd.index("-d") + 1])

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def with_wheel(manifest: Path, sha256: str) -> Path:
    data = yaml.safe_load(manifest.read_text())
    data["wheels"] = {"demo-runtime==1.0": {"dest": "eval/math/_demo", "sha256": sha256}}
    manifest.write_text(yaml.safe_dump(data))
    return manifest


def test_a_pinned_wheel_is_unpacked_whole_at_its_dest(tmp_path, source_repo, monkeypatch):
    repo, pinned = source_repo
    wheel, sha256 = demo_wheel(tmp_path)
    calls = fake_pip(monkeypatch, wheel)
    manifest = with_wheel(write_manifest(tmp_path / "m.yaml", repo, pinned), sha256)
    out = tmp_path / "release"
    build(str(repo), pinned, manifest, out)
    assert calls and "demo-runtime==1.0" in calls[0] and "--no-deps" in calls[0]
    assert (out / "eval/math/_demo/demo_runtime/__init__.py").read_text() == "VERSION = '1.0'\n"
    assert (out / "eval/math/_demo/demo_runtime-1.0.dist-info/METADATA").is_file()
    record = json.loads((out / "release.json").read_text())["wheels"]
    assert record == {"demo-runtime==1.0": {"dest": "eval/math/_demo", "sha256": sha256, "unpacked": True}}


def test_without_network_the_release_is_laid_out_without_the_wheel_and_says_so(
    tmp_path, source_repo, monkeypatch, caplog
):
    repo, pinned = source_repo
    _, sha256 = demo_wheel(tmp_path)
    fake_pip(monkeypatch, None)
    manifest = with_wheel(write_manifest(tmp_path / "m.yaml", repo, pinned), sha256)
    out = tmp_path / "release"
    with caplog.at_level(logging.WARNING, logger="bmc.data.release"):
        build(str(repo), pinned, manifest, out)
    assert (out / "ECQA/train.jsonl").is_file() and not (out / "eval/math/_demo").exists()
    record = json.loads((out / "release.json").read_text())["wheels"]["demo-runtime==1.0"]
    assert record["unpacked"] is False and "returned non-zero exit status 1" in record["error"]
    assert "demo-runtime==1.0 could not be downloaded" in caplog.text and "eval/math/_demo" in caplog.text


def test_a_wheel_whose_checksum_differs_fails_the_release(tmp_path, source_repo, monkeypatch):
    repo, pinned = source_repo
    wheel, _ = demo_wheel(tmp_path)
    fake_pip(monkeypatch, wheel)
    manifest = with_wheel(write_manifest(tmp_path / "m.yaml", repo, pinned), "0" * 64)
    with pytest.raises(ReleaseError, match=r"wheels\.demo-runtime==1\.0: .* does not match the pinned 0{64}"):
        build(str(repo), pinned, manifest, tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_bad_wheel_entries_are_refused(tmp_path):
    good = {"dest": "eval/math/_x", "sha256": "a" * 64}
    for wheels, message in (
        ({"antlr4-python3-runtime": good}, "expected a pinned name==version"),
        ({"x==1": {"dest": "a"}}, "expected the keys dest and sha256"),
        ({"x==1": {**good, "dest": "/abs"}}, "absolute or escapes"),
        ({"x==1": {**good, "sha256": "abc"}}, "sha256 should be 64 hex digits"),
        (["x==1"], "`wheels` should map name==version"),
    ):
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"commit": "a" * 40, "files": {}, "wheels": wheels}))
        with pytest.raises(ValueError, match=message):
            load_wheels(path)


def test_the_shipped_manifest_pins_the_authors_antlr_where_their_math_worker_reads_it():
    wheels = load_wheels(SHIPPED_MANIFEST)
    assert list(wheels) == [f"antlr4-python3-runtime=={ANTLR_PIN}"]
    assert wheels[f"antlr4-python3-runtime=={ANTLR_PIN}"]["dest"] == f"eval/math/{ANTLR_DIR}"
