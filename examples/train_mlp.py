"""Train a small MLP on two interleaved half-moons with each optimizer of `tinytorch.optim`.

    python examples/train_mlp.py --plot convergence.png

Uses only the student's exported package: run `tito export 06` first.
"""
from __future__ import annotations

import argparse

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential
from tinytorch.optim import SGD, Adam, AdamW, Momentum

OPTIMIZERS = {
    "SGD": lambda params: SGD(params, lr=0.1),
    "Momentum": lambda params: Momentum(params, lr=0.1, momentum=0.9),
    "Adam": lambda params: Adam(params, lr=0.01),
    "AdamW": lambda params: AdamW(params, lr=0.01, weight_decay=0.01),
}


def two_moons(n: int = 400, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(0, noise, (n, 2))
    return points.astype(np.float32), label


def train(make_optimizer, inputs, labels, epochs: int = 300, seed: int = 0) -> list[float]:
    """Full-batch training; returns the loss of every epoch."""
    model = Sequential(Linear(2, 32, seed=seed), ReLU(), Linear(32, 2, seed=seed + 1))
    optimizer = make_optimizer(model.parameters())
    loss_fn, losses = CrossEntropyLoss(), []
    for _ in range(epochs):
        loss = loss_fn(model(Tensor(inputs)), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.data))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--plot", help="save the loss curves to this PNG file")
    args = parser.parse_args()

    inputs, labels = two_moons()
    curves = {name: train(make, inputs, labels, args.epochs) for name, make in OPTIMIZERS.items()}
    for name, losses in curves.items():
        print(f"{name:>8}: loss {losses[0]:.3f} -> {losses[-1]:.3f} after {args.epochs} epochs")
    if args.plot:
        save_plot(curves, args.plot)
        print(f"saved {args.plot}")


def save_plot(curves: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, losses in curves.items():
        ax.plot(losses, label=name)
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="Two moons, a 2-32-2 MLP")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
