"""Checkpoints: a resumed run is the same run; bad files are refused and change nothing."""
import zipfile

import numpy as np
import pytest

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
