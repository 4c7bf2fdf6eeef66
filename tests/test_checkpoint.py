"""Checkpoints: a resumed run is the same run; bad files are refused and change nothing."""
import zipfile

import numpy as np
import pytest

from test_chapter_claims import run_cells
from tinytorch import plaindata
from tinytorch.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytorch.core.tensor import Tensor
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential

pytestmark = pytest.mark.optim


def make(solution, seed=0):
    model = Sequential(Linear(2, 8, seed=seed), ReLU(), Linear(8, 2, seed=seed + 1))
    optimizer = solution.Adam(model.parameters(), lr=0.05)
    return model, optimizer, solution.StepLR(optimizer, step_size=3, gamma=0.5)


def train(model, optimizer, scheduler, epochs):
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(32, 2)).astype(np.float32)
    labels = (inputs[:, 0] > 0).astype(int)
    for _ in range(epochs):
        CrossEntropyLoss()(model(Tensor(inputs)), labels).backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def test_a_resumed_run_is_bit_identical(solution, tmp_path):
    straight = make(solution)
    train(*straight, epochs=10)
    first = make(solution)
    train(*first, epochs=4)
    save_checkpoint(tmp_path / "ckpt.npz", *first, epoch=4, note="halfway")
    resumed = make(solution, seed=7)  # other initial weights: everything must come from the file
    meta = load_checkpoint(tmp_path / "ckpt.npz", *resumed)
    assert meta == {"epoch": 4, "note": "halfway"}
    train(*resumed, epochs=6)
    assert all(np.array_equal(a, b) for a, b in zip(weights(straight[0]), weights(resumed[0])))
    assert resumed[1].lr == straight[1].lr


def test_a_pickled_file_is_refused_and_never_runs(solution, tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.savez(tmp_path / "evil.npz", x=np.array([Payload()], dtype=object))
    model, optimizer, scheduler = make(solution)
    before = weights(model)
    with pytest.raises(CheckpointError, match="pickled objects"):
        load_checkpoint(tmp_path / "evil.npz", model, optimizer, scheduler)
    assert not marker.exists()
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(model)))


def test_a_truncated_file_is_refused(solution, tmp_path):
    save_checkpoint(tmp_path / "ckpt.npz", *make(solution))
    data = (tmp_path / "ckpt.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.npz", *make(solution))


def test_a_checkpoint_of_another_model_changes_nothing(solution, tmp_path):
    save_checkpoint(tmp_path / "ckpt.npz", *make(solution))
    other = Sequential(Linear(2, 4, seed=0), ReLU(), Linear(4, 2, seed=1))
    optimizer = solution.Adam(other.parameters(), lr=0.05)
    before = weights(other)
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(tmp_path / "ckpt.npz", other, optimizer)
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(other)))
    assert optimizer.state == {}


def test_a_crash_during_save_keeps_the_previous_checkpoint(solution, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    model, optimizer, scheduler = make(solution)
    save_checkpoint(path, model, optimizer, scheduler, epoch=1)
    good = path.read_bytes()
    train(model, optimizer, scheduler, epochs=2)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, optimizer, scheduler, epoch=3)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    assert zipfile.is_zipfile(path)


# The one file format underneath: tinytorch.plaindata.save / load.

def test_a_saved_file_keeps_key_types_tuples_and_numpy_scalars(tmp_path):
    value = {0: {"m": np.arange(3.0, dtype=np.float32), "step": np.int64(4)}, "betas": (0.9, 0.999),
             (1, "a"): [np.float32(0.5), None, True], "tag": {"__tuple__": "data, not a tag"}}
    back = plaindata.load(plaindata.save(tmp_path / "data.npz", value))
    assert set(back) == {0, "betas", (1, "a"), "tag"} and back["betas"] == (0.9, 0.999)
    assert back[0]["m"].dtype == np.float32 and back[0]["step"] == 4 and type(back[0]["step"]) is np.int64
    assert type(back[(1, "a")][0]) is np.float32 and back[(1, "a")][1:] == [None, True]
    assert back["tag"] == {"__tuple__": "data, not a tag"}
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]


def test_what_is_not_plain_data_is_refused_naming_where(tmp_path):
    with pytest.raises(TypeError, match=r"c.npz\['state'\]\[0\]\[1\] is an array of Python objects"):
        plaindata.save(tmp_path / "c.npz", {"state": [(1, np.array([object()]))]})
    with pytest.raises(TypeError, match=r"\['f'\] is a function"):
        plaindata.save(tmp_path / "c.npz", {"f": lambda: 0})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("tree", [
    {"__array__": "missing"}, {"__array__": 3}, {"__scalar__": "a0"}, {"__tuple__": "ab"},
    {"__dict__": [[[1, 2], "a list as a key"]]}, {"__dict__": [[{"__array__": "a0"}, 1]]},
    {"__dict__": [[1, 2, 3]]}, {"__dict__": {"a": 1}}, [{"k": {"__tuple__": 1}}],
])
def test_a_malformed_tree_is_refused_with_a_value_error(tree):
    with pytest.raises(ValueError):
        plaindata.decode(tree, {"a0": np.arange(3)})


def test_a_tree_deeper_than_any_plain_data_is_refused():
    tree = 0
    for _ in range(plaindata.MAX_DEPTH + 2):
        tree = [tree]
    with pytest.raises(ValueError, match="nested"):
        plaindata.decode(tree, {})


def test_the_chapter_s_resumed_run_is_bit_identical_and_the_weights_only_one_is_not():
    chapter = run_cells("race_setup", "spirals_setup", "checkpoint")
    assert chapter["identical"] and chapter["resumed"] == chapter["straight"]
    assert chapter["weights_only"][:20] == chapter["straight"][:20]
    assert chapter["weights_only"][-1] != chapter["straight"][-1]
