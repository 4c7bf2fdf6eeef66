"""The course's known mistakes, simulated, so that a failed check can name the one it sees.

`simulate` replays a run a scenario recorded (optimizer, hyper-parameters, initial values, every
gradient and learning rate) with the spec's rule or with one mistake. The inputs are seeded, so
make_expected.py simulates every known mistake once (`known_mistakes`) and stores the results
beside the expected values; in the grader, `diagnose` only compares what the student's code did
with them and returns the hints of the mistakes that reproduce it. This only explains failures:
the expected values themselves come from PyTorch.
"""
import numpy as np

COMMON = {
    "update_ascends": "the update adds to p: it subtracts, p = p - lr * ...",
    "none_as_zero": "a parameter whose grad is None is updated as if its gradient were zero; "
                    "it must be skipped, its state too",
    "weight_decay_ignored": "weight_decay is ignored",
    "lr_ignored": "the learning rate given is not used: the update takes the default lr whatever "
                  "lr is, and ignores a changed optimizer.lr (use self.lr, which a scheduler sets)",
}
EMA = ("the velocity is an average, buf = momentum * buf + (1 - momentum) * g; the spec adds the "
       "whole gradient, buf = momentum * buf + (1 - dampening) * g")
SGD_PITFALLS = {
    "momentum_as_ema": EMA,
    "momentum_as_ema_from_zero": EMA,
    "velocity_not_kept": "the velocity is created anew at every step instead of kept in "
                         "state[i]['momentum_buffer'] between steps",
    "dampening_ignored": "dampening is ignored: from the second step on the velocity adds "
                         "(1 - dampening) * g, not g",
    "dampening_on_first_step": "dampening is applied at the first step; the velocity starts as "
                               "buf = g",
    "nesterov_ignored": "nesterov=True is ignored; Nesterov steps along g + momentum * buf",
    "weight_decay_after_momentum": "weight decay is added after the momentum buffer; the spec adds "
                                   "weight_decay * p to the gradient first, so it enters the buffer",
    "lr_in_velocity": "the learning rate is folded into the velocity (buf = momentum * buf + lr * g; "
                      "p -= buf); the spec keeps it out (p -= lr * buf), which differs once lr changes",
}
ADAM_PITFALLS = {
    "swapped_betas": "beta1 and beta2 are swapped: m averages with beta1 (0.9), v with beta2 (0.999)",
    "no_bias_correction": "there is no bias correction: m_hat = m / (1 - beta1 ** t) and "
                          "v_hat = v / (1 - beta2 ** t)",
    "no_m_correction": "m is not bias-corrected (m_hat = m / (1 - beta1 ** t)), which makes the "
                       "first steps about 10 times too small",
    "no_v_correction": "v is not bias-corrected (v_hat = v / (1 - beta2 ** t)), which makes the "
                       "first steps far too large",
    "m_corrected_in_place": "m is divided by its bias correction in place, which corrupts the "
                            "running average; m_hat must be a new array",
    "moments_corrected_in_place": "m and v are divided by their bias corrections in place, which "
                                  "corrupts the running averages; m_hat and v_hat must be new arrays",
    "eps_inside_sqrt": "eps is inside the square root; the step divides by sqrt(v_hat) + eps",
    "eps_added_to_sqrt_v": "eps is added to sqrt(v) instead of sqrt(v_hat), as in the paper's "
                           "efficient form lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / "
                           "(sqrt(v) + eps_hat) with eps_hat = eps; the spec's eps needs "
                           "eps_hat = eps * sqrt(1 - beta2 ** t)",
    "betas_ignored": "the betas given are not used: m and v average with 0.9 and 0.999 whatever "
                     "betas are (read them from self.hyperparams['betas'])",
    "t_not_incremented": "the step count t stays at 1; it goes up by one at every step",
    "t_per_parameter": "t goes up once per parameter instead of once per step",
    "v_from_g": "v averages g instead of g * g",
    "adam_decay_decoupled": "Adam's weight_decay shrinks the parameter directly, as AdamW does; "
                            "Adam adds weight_decay * p to the gradient (L2)",
    "adamw_decay_in_gradient": "AdamW's decay is added to the gradient, as Adam's L2 is; AdamW "
                               "shrinks p by (1 - lr * weight_decay) and uses the raw gradient",
    "adamw_decay_without_lr": "AdamW's decay leaves out the learning rate: the factor is "
                              "1 - lr * weight_decay",
    "adamw_decay_after_update": "AdamW shrinks the parameter after the Adam update; the spec "
                                "shrinks it first",
}
HINTS = {**COMMON, **SGD_PITFALLS, **ADAM_PITFALLS}


def is_adam(optimizer: str) -> bool:
    return optimizer in ("Adam", "AdamW")


def simulate(optimizer: str, hp: dict, inputs: dict, pitfall: str | None = None, gradient=None):
    """(trajectory, buffers): per parameter, its values before and after every step; per step,
    per parameter, its array buffers. `hp` holds every hyper-parameter of the optimizer. With
    `gradient`, each step's gradients are gradient(values) rather than inputs["grads"]."""
    update = _adam if is_adam(optimizer) else _sgd
    params = [np.array(x, dtype=np.float64) for x in inputs["init"]]
    states = [{} for _ in params]
    clock = {"t": 0}  # a counter shared by all parameters, for t_per_parameter
    lr = hp["lr"]
    trajectory, buffers = [[p.copy()] for p in params], []
    for k in range(len(inputs["has_grad"][0])):
        lr = lr if not inputs.get("lr") or inputs["lr"][k] is None else inputs["lr"][k]
        grads = gradient(params) if gradient else [g[k] for g in inputs["grads"]]
        for i, p in enumerate(params):
            if inputs["has_grad"][i][k]:
                grad = np.asarray(grads[i], dtype=np.float64)
            elif pitfall == "none_as_zero":
                grad = np.zeros_like(p)
            else:
                continue
            params[i] = update(p, grad, states[i], lr, hp, optimizer, pitfall, clock)
        for i, p in enumerate(params):
            trajectory[i].append(p.copy())
        buffers.append([{key: v.copy() for key, v in s.items() if isinstance(v, np.ndarray)}
                        for s in states])
    return [np.stack(t) for t in trajectory], buffers


def _sgd(p, g, state, lr, hp, optimizer, pitfall, clock):
    momentum, dampening, weight_decay = hp["momentum"], hp["dampening"], hp["weight_decay"]
    if weight_decay and pitfall not in ("weight_decay_ignored", "weight_decay_after_momentum"):
        g = g + weight_decay * p
    if momentum:
        buf = None if pitfall == "velocity_not_kept" else state.get("momentum_buffer")
        if pitfall == "momentum_as_ema_from_zero":
            buf = momentum * (0 if buf is None else buf) + (1 - momentum) * g
        elif pitfall == "momentum_as_ema" and buf is not None:
            buf = momentum * buf + (1 - momentum) * g
        elif pitfall == "lr_in_velocity":
            buf = lr * g if buf is None else momentum * buf + (1 - dampening) * lr * g
        elif buf is None:
            buf = (1 - dampening) * g if pitfall == "dampening_on_first_step" else g.copy()
        else:
            buf = momentum * buf + (1 if pitfall == "dampening_ignored" else 1 - dampening) * g
        state["momentum_buffer"] = buf
        if pitfall == "lr_in_velocity":
            return p - buf
        nesterov = hp["nesterov"] and pitfall != "nesterov_ignored"
        g = g + momentum * buf if nesterov else buf
    if weight_decay and pitfall == "weight_decay_after_momentum":
        g = g + weight_decay * p
    return p + lr * g if pitfall == "update_ascends" else p - lr * g


def _adam(p, g, state, lr, hp, optimizer, pitfall, clock):
    beta1, beta2 = hp["betas"][::-1] if pitfall == "swapped_betas" else hp["betas"]
    eps, weight_decay = hp["eps"], hp["weight_decay"]
    if pitfall == "weight_decay_ignored":
        weight_decay = 0.0
    decoupled = {"adam_decay_decoupled": True, "adamw_decay_in_gradient": False}.get(
        pitfall, optimizer == "AdamW")
    if weight_decay and not decoupled:
        g = g + weight_decay * p
    shrink = 1 - (weight_decay if pitfall == "adamw_decay_without_lr" else lr * weight_decay)
    if decoupled and pitfall != "adamw_decay_after_update":
        p = p * shrink
    if not state:
        state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
    state["step"] += 1
    clock["t"] += 1
    t = {"t_not_incremented": 1, "t_per_parameter": clock["t"]}.get(pitfall, state["step"])
    m = state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
    v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * (
        g if pitfall == "v_from_g" else g * g)
    uncorrected = {"no_bias_correction": "mv", "no_m_correction": "m", "no_v_correction": "v"}
    skipped = uncorrected.get(pitfall, "")
    m_hat = m if "m" in skipped else m / (1 - beta1 ** t)
    v_hat = v if "v" in skipped else v / (1 - beta2 ** t)
    if pitfall in ("m_corrected_in_place", "moments_corrected_in_place"):
        state["exp_avg"] = m_hat
    if pitfall == "moments_corrected_in_place":
        state["exp_avg_sq"] = v_hat
    if pitfall == "eps_added_to_sqrt_v":
        eps = eps / np.sqrt(1 - beta2 ** t)
    denominator = np.sqrt(v_hat + eps) if pitfall == "eps_inside_sqrt" else np.sqrt(v_hat) + eps
    p = p + lr * m_hat / denominator if pitfall == "update_ascends" else p - lr * m_hat / denominator
    return p * shrink if decoupled and pitfall == "adamw_decay_after_update" else p


def known_mistakes(optimizer: str, hyper: dict, inputs: dict, defaults: dict,
                   buffers=False, gradient=None) -> list[dict]:
    """The spec's rule and every known mistake that changes something in this run, simulated:
    [{"pitfall": None for the spec's rule, else its name, "trajectory": per parameter its values
    before and after every step, "buffers": per buffer key, per parameter its value after every
    step that has it (None where no step does)}], the most common mistakes first.

    make_expected.py stores them beside the expected values, so that naming a mistake costs the
    grader a comparison, not a simulation.
    """
    family = ADAM_PITFALLS if is_adam(optimizer) else SGD_PITFALLS
    with np.errstate(all="ignore"):
        spec = simulate(optimizer, hyper, inputs, gradient=gradient)
        simulated = [(None, spec)] + [(pitfall, simulate(*ignoring(pitfall, optimizer, hyper, inputs,
                                                                   defaults), pitfall, gradient))
                                      for pitfall in [*COMMON, *family]]
    return [{"pitfall": pitfall, "trajectory": trajectory,
             "buffers": _per_parameter(steps) if buffers else {}}
            for pitfall, (trajectory, steps) in simulated
            if pitfall is None or not _identical((trajectory, steps), spec)]


def ignoring(pitfall: str, optimizer: str, hyper: dict, inputs: dict, defaults: dict):
    """The run as an optimizer that ignores a hyper-parameter it was given sees it."""
    if pitfall == "lr_ignored":
        return optimizer, {**hyper, "lr": defaults["lr"]}, {**inputs, "lr": None}
    if pitfall == "betas_ignored":
        return optimizer, {**hyper, "betas": defaults["betas"]}, inputs
    return optimizer, hyper, inputs


def _per_parameter(steps: list) -> dict:
    keys = sorted({key for step in steps for state in step for key in state})
    return {key: [_stacked([state[i][key] for state in steps if key in state[i]])
                  for i in range(len(steps[0]))] for key in keys}


def _stacked(rows: list):
    return np.stack(rows) if rows else None


def diagnose(mistakes: list[dict], distance, tolerance: float) -> list[str]:
    """The hints of the stored mistakes (`known_mistakes`) that explain an observation.

    `distance(mistake)` measures how far a simulation is from what was observed; a mistake
    explains it when its simulation is within `tolerance` of it, and ten times closer than the
    spec's rule is.
    """
    if not mistakes:
        return []
    spec, *others = mistakes
    with np.errstate(all="ignore"):
        bound = min(tolerance, distance(spec) / 10)
        return [HINTS[m["pitfall"]] for m in others if distance(m) <= bound]


def _identical(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    return a == b
