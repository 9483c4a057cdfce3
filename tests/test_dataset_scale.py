"""rasp.dataset: Parquet shards, in one process and on Dask (skipped without the [scale]
extra). Small sizes: each local cluster costs a few seconds to start."""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter
from rasp.commands import main
from rasp.train.program import load_program

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from rasp.dataset import DatasetError, Options, generate, split_of, unpack_bits  # noqa: E402
from rasp.dataset.plan import plan, shares_of  # noqa: E402
from rasp.dataset.shard import Job, run_shard  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAPER = str(ROOT / "examples" / "paper_examples.rasp")
BAD = 'ok = tokens + "!";\nbad = 1 / indicator(tokens != "c");\n'


@pytest.fixture(autouse=True)
def _workers_import_this_rasp(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask's worker processes must import the rasp of this checkout, not an installed one.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(folder: Path) -> list[dict]:
    return pq.read_table(folder / "data").to_pylist()


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["dataset", *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


SMALL = Options(alphabet=list("abcd"), lengths=(1, 6), counts={"train": 240, "val": 30,
                "test": 30}, seed=3, shard_size=40, selections=True)


def test_the_same_seed_gives_the_same_bytes_in_one_process_and_on_1_and_2_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "here")
    generate(program, SMALL, tmp_path / "one", workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        generate(program, SMALL, tmp_path / "two", scheduler=cluster.scheduler_address)
    here = folder_bytes(tmp_path / "here")
    assert len([f for f in here if f.endswith(".parquet")]) > 6  # several shards
    assert folder_bytes(tmp_path / "one") == here
    assert folder_bytes(tmp_path / "two") == here
    other = Options(**{**SMALL.__dict__, "seed": 4})
    generate(program, other, tmp_path / "seed4")
    assert folder_bytes(tmp_path / "seed4") != here  # the seed matters


def test_a_shard_rerun_alone_gives_its_file_again(tmp_path):
    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "all")
    shards = plan(SMALL.counts, SMALL.lengths, SMALL.shard_size, SMALL.seed, SMALL.alphabet)
    shard = shards[len(shards) // 2]
    job = Job(program.source, program.file or "", "reverse", tuple(SMALL.alphabet), None,
              "uniform", tuple(shares_of(SMALL.counts).items()), True, "stop",
              str(tmp_path / "alone"))
    assert run_shard(job, shard).rows == shard.count
    assert ((tmp_path / "alone" / shard.file).read_bytes()
            == (tmp_path / "all" / "data" / shard.file).read_bytes())


def test_rows_are_the_interpreters_outputs_and_selections(tmp_path, monkeypatch):
    from rasp.dataset import shard

    monkeypatch.setattr(shard, "SELECTION_CELLS", 40)  # the selectors in chunks of 1-2 inputs
    options = Options(alphabet=list("abcde"), lengths=(2, 5), bos="§",
                      counts={"train": 60, "val": 10, "test": 10}, shard_size=25,
                      selections=True)
    program = load_program(PAPER, "sort_bos")
    description = generate(program, options, tmp_path)
    table = rows(tmp_path)
    assert len(table) == 80 == sum(description["counts"].values())
    it = Interpreter(out=lambda line: None)
    it.run((ROOT / "examples" / "paper_examples.rasp").read_text())
    inputs = [r["input"] for r in table]
    assert [r["output"] for r in table] == it.evaluate_batch("sort_bos", inputs)
    heads = [h["column"] for h in description["heads"]]
    assert heads == ["sel_L1H1", "sel_L2H1"]
    for r in table:
        tokens = r["input"]
        assert tokens[0] == "§" and r["length"] == len(tokens) - 1
        assert r["output"][1:] == sorted(tokens[1:])
        expected = program.selections([tokens])[:, 0]
        for k, column in enumerate(heads):
            assert (unpack_bits(r[column], len(tokens)) == expected[k]).all()
    # The layer-1 head of sort_bos: the BOS, and the smaller tokens (ties by position).
    tokens = table[0]["input"]
    n = len(tokens)
    before = [[k == 0 or tokens[k] < tokens[q] or (tokens[k] == tokens[q] and k < q)
               for k in range(n)] for q in range(n)]
    assert (unpack_bits(table[0]["sel_L1H1"], n) == np.array(before)).all()


def test_splits_are_disjoint_even_where_inputs_repeat(tmp_path):
    # 62 strings of lengths 1..5 over "ab": rows repeat, but no input is in two splits.
    options = Options(alphabet=list("ab"), lengths=(1, 5),
                      counts={"train": 300, "val": 60, "test": 60}, shard_size=30)
    seen_progress: list[tuple[int, int, int]] = []
    description = generate(load_program(PAPER, "reverse"), options, tmp_path,
                           progress=lambda p: seen_progress.append((p.done, p.total, p.rows)))
    assert [done for done, _, _ in seen_progress] == list(range(1, len(seen_progress) + 1))
    assert seen_progress[-1] == (len(description["files"]), len(description["files"]), 420)
    shares = description["split_shares"]
    seen: dict[str, set[tuple]] = {"train": set(), "val": set(), "test": set()}
    for r in rows(tmp_path):
        seen[r["split"]].add(tuple(r["input"]))
        assert split_of(r["input"], shares) == r["split"]
    assert all(seen.values())
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]
    assert description["counts"] == {"train": 300, "val": 60, "test": 60}
    # A length none of whose inputs is in a split gives that split nothing: its rows go
    # to the split's other lengths.
    for split, by_length in description["rows_by_length"].items():
        for n, count in by_length.items():
            assert count > 0
            assert any(split_of(list(f"{i:0{n}b}".replace("0", "a").replace("1", "b")),
                                shares) == split for i in range(2 ** int(n)))


def test_pandas_reads_back_what_the_command_wrote_on_a_worker(tmp_path, monkeypatch):
    # The command, small: `rasp dataset ... --workers 1 --out DIR`, DIR relative.
    pd = pytest.importorskip("pandas")
    pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(PAPER, "reverse", "--workers", "1", "--train", "50",
                             "--val", "5", "--test", "5", "--lengths", "3:4", "--out", "ds")
    assert code == 0, err
    frame = pd.read_parquet(tmp_path / "ds" / "data")
    assert len(frame) == 60 and set(frame["split"]) == {"train", "val", "test"}
    assert sorted(set(frame["length"])) == [3, 4]
    for tokens, output in zip(frame["input"], frame["output"]):
        assert list(output) == list(tokens)[::-1]
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["counts"] == {"train": 50, "val": 5, "test": 5}
    assert meta["program"]["name"] == "reverse"
    assert len(meta["files"]) == len(list((tmp_path / "ds" / "data").iterdir()))
    assert out.startswith("50 / 5 / 5 rows (train / val / test) in 6 shards")


def test_hugging_face_datasets_loads_the_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    generate(load_program(PAPER, "reverse"), SMALL, tmp_path)
    data = datasets.load_dataset("parquet", cache_dir=str(tmp_path / "cache"), data_files={
        s: str(tmp_path / "data" / f"{s}-*.parquet") for s in ("train", "val", "test")})
    assert data["train"].num_rows == 240 and data["test"].num_rows == 30
    assert set(data["val"]["split"]) == {"val"}
    for example in data["train"]:
        assert example["output"] == example["input"][::-1]


def test_polars_reads_the_shards(tmp_path):
    pl = pytest.importorskip("polars")
    generate(load_program(PAPER, "reverse"), SMALL, tmp_path)
    frame = pl.read_parquet(str(tmp_path / "data" / "*.parquet"))
    assert frame.height == 300
    assert frame.filter(pl.col("split") == "test").height == 30
    for tokens, output in zip(frame["input"].to_list(), frame["output"].to_list()):
        assert output == tokens[::-1]


def test_outputs_of_ints_in_some_shards_and_floats_in_others_are_all_doubles(tmp_path):
    program_file = tmp_path / "mixed.rasp"
    program_file.write_text('y = 0.5 if tokens == "b" else 1;\n')
    options = Options(alphabet=list("abcdefgh"), lengths=(1, 2),
                      counts={"train": 30, "val": 0, "test": 0}, shard_size=1)
    description = generate(load_program(str(program_file), "y"), options, tmp_path / "out")
    assert description["output_type"] == "double"
    for path in (tmp_path / "out" / "data").glob("*.parquet"):
        assert pq.read_schema(path).field("output").type == pa.list_(pa.float64())
    values = rows(tmp_path / "out")
    assert any("b" in r["input"] for r in values) and any("b" not in r["input"] for r in values)
    for r in values:
        assert r["output"] == [0.5 if t == "b" else 1.0 for t in r["input"]]


def test_an_input_the_program_fails_on_stops_the_run_with_its_place(tmp_path):
    (tmp_path / "bad.rasp").write_text(BAD)
    code, out, err = run_cli(str(tmp_path / "bad.rasp"), "bad", "--vocab", "abc",
                             "--format", "parquet", "--out", str(tmp_path / "out"))
    assert code == 70 and out == ""
    assert len(err.splitlines()) == 1, err
    assert "bad.rasp:2:7: error: division by zero (on the input [" in err
    assert '"c"' in err.split("on the input")[1] and "[shard " in err
    assert not (tmp_path / "out" / "dataset.json").exists()


def test_on_error_skip_leaves_out_the_failing_inputs_and_counts_them(tmp_path):
    (tmp_path / "bad.rasp").write_text(BAD)
    code, out, err = run_cli(str(tmp_path / "bad.rasp"), "bad", "--vocab", "abc",
                             "--lengths", "1:3", "--train", "90", "--val", "15", "--test",
                             "15", "--on-error", "skip", "--out", str(tmp_path / "out"))
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    table = rows(tmp_path / "out")
    assert table and all("c" not in r["input"] for r in table)
    assert all(r["output"] == [1.0] * len(r["input"]) for r in table)
    skipped = sum(meta["skipped"].values())
    assert skipped > 0 and f"{skipped} inputs skipped" in out
    for split in ("train", "val", "test"):
        assert meta["counts"][split] + meta["skipped"][split] == meta["requested"][split]
    first = meta["skipped_inputs"][0]
    assert "c" in first["input"] and "bad.rasp:2:7: error: division by zero" in first["error"]


def test_without_the_extra_the_flags_say_how_to_install_it(tmp_path, monkeypatch):
    real = builtins.__import__

    def no_scale(name: str, *args, **kwargs):
        if name.split(".")[0] in ("pyarrow", "dask", "distributed"):
            raise ImportError(f"No module named '{name}'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scale)
    for flags in (["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:1"],
                  ["--format", "parquet"]):
        code, out, err = run_cli(PAPER, "reverse", *flags, "--out", str(tmp_path / "x"))
        assert code == 64 and out == ""
        assert err == ("rasp dataset: Parquet datasets and Dask need pyarrow and dask: pip "
                       "install 'dask[distributed]' pyarrow pandas (in a checkout of rasp: "
                       "pip install '.[scale]')\n")
    # and the JSONL output needs none of it
    code, out, err = run_cli(PAPER, "reverse", "--train", "20", "--val", "2", "--test", "2",
                             "--out", str(tmp_path / "jsonl"))
    assert code == 0, err
    assert (tmp_path / "jsonl" / "train.jsonl").exists()


def test_one_process_imports_no_dask(tmp_path):
    script = ("import sys\nfrom pathlib import Path\nfrom rasp.commands import main\n"
              f"code = main(['dataset', {PAPER!r}, 'reverse', '--format', 'parquet', "
              f"'--train', '20', '--val', '2', '--test', '2', '--out', {str(tmp_path)!r}])\n"
              "assert code == 0, code\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('dask', 'distributed')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "dataset.json").exists()


def test_bad_scale_arguments_are_one_line(tmp_path):
    for flags, message in (
            (["--workers", "0"], "rasp dataset: --workers: must be at least 1, not 0"),
            (["--shard-size", "0"], "rasp dataset: --shard-size: must be at least 1, not 0"),
            (["--format", "jsonl", "--workers", "2"], "--workers writes Parquet"),
            (["--workers", "2", "--scheduler", "tcp://x:1"], "choose one")):
        code, out, err = run_cli(PAPER, "reverse", *flags, "--out", str(tmp_path))
        assert code == 64 and len(err.splitlines()) == 1 and message in err, (flags, err)


def dies_once(job: Job, shard, kind=None):
    """A Dask task that kills its worker the first time it runs the shard val-len003-00000,
    after leaving half a file behind, as a machine that goes down mid-write would."""
    marker = Path(job.out).parent / "died"
    if shard.name == "val-len003-00000" and not marker.exists():
        marker.write_text("once")
        (Path(job.out) / f".{shard.name}.half.tmp").write_bytes(b"PAR1 half")
        os._exit(1)
    return run_shard(job, shard, kind)


def test_a_worker_that_dies_is_retried_without_duplicate_rows(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from rasp.dataset import driver

    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "here")
    monkeypatch.setattr(driver, "run_shard", dies_once)
    description = generate(program, SMALL, tmp_path / "two", workers=2)
    assert (tmp_path / "two" / "died").read_text() == "once"  # it did die
    (tmp_path / "two" / "died").unlink()
    assert folder_bytes(tmp_path / "two") == folder_bytes(tmp_path / "here")
    assert len(rows(tmp_path / "two")) == sum(description["counts"].values()) == 300


def test_the_split_rule_is_the_documented_one():
    # docs/datasets.md: blake2b (8 bytes, key rasp-split-v1) of the tokens joined by NUL,
    # a big-endian fraction of 2^64, against the cumulative shares train, val, test.
    import hashlib
    import itertools

    shares = shares_of({"train": 10000, "val": 500, "test": 1000})
    assert [round(shares[s], 3) for s in ("train", "val", "test")] == [0.864, 0.05, 0.086]
    counts = {"train": 0, "val": 0, "test": 0}
    for tokens in itertools.product("abcd", repeat=6):
        digest = hashlib.blake2b("\x00".join(tokens).encode(), digest_size=8,
                                 key=b"rasp-split-v1").digest()
        u = int.from_bytes(digest, "big") / 2 ** 64
        expected = ("train" if u < shares["train"] else
                    "val" if u < shares["train"] + shares["val"] else "test")
        assert split_of(list(tokens), shares) == expected
        counts[expected] += 1
    assert abs(counts["val"] / 4096 - 0.05) < 0.02  # the shares are the shares of inputs


def test_resume_runs_only_the_missing_shards_and_gives_the_same_bytes(tmp_path):
    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "full")
    first = folder_bytes(tmp_path / "full")
    shards = plan(SMALL.counts, SMALL.lengths, SMALL.shard_size, SMALL.seed, SMALL.alphabet)
    data = tmp_path / "full" / "data"
    (data / shards[3].file).unlink()  # a shard that never finished
    (data / shards[5].file).write_bytes(b"PAR1 damaged")  # one whose file is not Parquet
    other = Options(**{**SMALL.__dict__, "seed": 9, "shard_size": SMALL.shard_size})
    generate(program, other, tmp_path / "other")
    # a file of another run, under the name of one of this run's shards: not taken
    (data / shards[7].file).write_bytes((tmp_path / "other" / "data" / shards[7].file)
                                        .read_bytes())
    counted: list[int] = []
    resumed = Options(**{**SMALL.__dict__, "resume": True})
    generate(program, resumed, tmp_path / "full", progress=lambda p: counted.append(p.done))
    assert folder_bytes(tmp_path / "full") == first
    assert len(counted) == 3  # only those three shards ran
    assert counted[-1] == len(shards)


# A run of SMALL in another process, killed (SIGKILL) just before its N-th rename of a
# finished file into place: one rename a shard, then one for dataset.json.
KILLED = f"""
import os, signal, sys
from pathlib import Path
from rasp.dataset import Options, generate
from rasp.train.program import load_program
real, renames = os.replace, []
def replace(*args, **kwargs):
    renames.append(args)
    if len(renames) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
os.replace = replace
options = Options(**{{**{SMALL.__dict__!r}, "force": sys.argv[3] == "force"}})
generate(load_program({PAPER!r}, "reverse"), options, Path(sys.argv[1]))
"""


def killed_run(folder: Path, at: int, force: bool = False) -> None:
    result = subprocess.run([sys.executable, "-c", KILLED, str(folder), str(at),
                             "force" if force else "-"], timeout=120)
    assert result.returncode == -9


SHARDS = len(plan(SMALL.counts, SMALL.lengths, SMALL.shard_size, SMALL.seed, SMALL.alphabet))


@pytest.mark.parametrize("at", [1, 4, SHARDS + 1],
                         ids=["in the first shard", "after three shards", "at dataset.json"])
def test_a_run_killed_at_any_moment_then_resumed_writes_the_same_bytes(tmp_path, at):
    from rasp.files import FolderTakenError

    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "whole")
    killed_run(tmp_path / "out", at)
    assert not (tmp_path / "out" / "dataset.json").exists()  # nothing reads as complete
    assert len(list((tmp_path / "out" / "data").glob("*.parquet"))) == at - 1
    with pytest.raises(FolderTakenError) as refused:
        generate(program, SMALL, tmp_path / "out")
    assert refused.value.message == (
        f"{tmp_path / 'out'} holds an unfinished dataset (data): choose another folder, or "
        "--force to replace it, or --resume to finish it")
    generate(program, Options(**{**SMALL.__dict__, "resume": True}), tmp_path / "out")
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "whole")


def test_another_run_into_a_dataset_is_refused_and_a_killed_replacement_leaves_no_mix(
        tmp_path):
    from rasp.files import FolderTakenError

    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "whole")
    first = folder_bytes(tmp_path / "whole")
    other = Options(**{**SMALL.__dict__, "seed": 9})
    with pytest.raises(FolderTakenError, match="holds a complete dataset"):
        generate(program, other, tmp_path / "whole")
    assert folder_bytes(tmp_path / "whole") == first  # refused: the old dataset intact
    killed_run(tmp_path / "whole", 3, force=True)  # --force, killed: no old manifest left
    assert not (tmp_path / "whole" / "dataset.json").exists()
    generate(program, Options(**{**SMALL.__dict__, "force": True}), tmp_path / "whole")
    assert folder_bytes(tmp_path / "whole") == first
    with pytest.raises(DatasetError, match="choose one"):
        generate(program, Options(**{**SMALL.__dict__, "force": True, "resume": True}),
                 tmp_path / "whole")


# A run that holds its folder until the test creates the file "go" beside it.
WAITING = f"""
import sys, time
from pathlib import Path
from rasp.dataset import Options, driver, generate
from rasp.train.program import load_program
real = driver.run_shard
def run_shard(*args):
    while not Path(sys.argv[2]).exists():
        time.sleep(0.01)
    return real(*args)
driver.run_shard = run_shard
generate(load_program({PAPER!r}, "reverse"), Options(**{SMALL.__dict__!r}), Path(sys.argv[1]))
"""


def test_of_two_runs_into_one_folder_the_second_is_refused(tmp_path):
    from rasp.files import LOCK, FolderLockedError

    program = load_program(PAPER, "reverse")
    generate(program, SMALL, tmp_path / "whole")
    go = tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", WAITING, str(tmp_path / "out"), str(go)])
    try:
        for _ in range(3000):
            if (tmp_path / "out" / LOCK).exists() or first.poll() is not None:
                break
            time.sleep(0.01)
        with pytest.raises(FolderLockedError, match=f"process {first.pid} on"):
            generate(program, Options(**{**SMALL.__dict__, "force": True}), tmp_path / "out")
    finally:
        go.touch()
        assert first.wait(timeout=120) == 0
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "whole")
