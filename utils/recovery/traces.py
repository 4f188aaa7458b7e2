"""Labelled loss traces for the detectors (Phase 20): two generators of SYNTHETIC ones, and the
reader of trace files that ``python -m utils.detectors evaluate`` uses.

    traces = generate(seed=0)                      # every category, several traces each
    trace = make_trace("spikes-heavy", seed=3)     # one: {"loss": [...], "spikes": [...], ...}
    traces = synthetic_traces(20, 3000, seed=0)    # large spikes, with a gradient norm too
    traces = load_traces("tests/traces/generated.json")   # a checked list, or TraceFileError

(The real runs' traces are made from their run logs: ``utils.recovery.calibration``.)

A generated trace is a training-loss curve with SMALL spikes, the kind that is hard to see:

    log loss(t) = log(floor + (start - floor) e^(-t / tau)) + noise(t) + events(t)

- ``noise`` is Gaussian (sigma 1-5 % of the loss) or Student-t with 3-6 degrees of freedom (a
  heavy tail; robust sigma 0.4-1.2 %), independent from step to step or AR(1) correlated (phi
  0.3-0.9; the innovations are scaled by sqrt(1 - phi^2), so the noise has the same spread);
- a **spike** starting at step s multiplies the loss by 1 + (m - 1) e^(-(t - s) / d) from s on,
  m = 1.3-1.5 (the peak), d = 1-4 steps (how fast it decays); ``spikes`` lists the start steps,
  ``spike_sizes`` the peaks m;
- an **improvement** divides the loss by 1.2-1.7 for good at one step (no label: not a spike);
- a **drift** raises the loss by 10-50 % over 200-800 steps (no label: a slow change).

Categories (``CATEGORIES``): long quiet runs in each kind of noise (for the false-alarm rate),
spikes in each kind, spikes during the first 150 steps of a fast-falling loss, back-to-back spikes
2-6 steps apart, improvements and drifts (with spikes elsewhere in the same trace). Every trace
says its category and noise parameters, so a result can be broken down. Whether a spike can be
told from noise at a budget p at all depends on the noise: ``oracle_bar`` is the (1 - p) quantile
of the noise innovation itself, which even a detector that knew the clean curve could not beat.

``synthetic_traces`` is the older, coarser generator the calibration notebook and the command line
use: large spikes (2.5-4x) on a decaying loss, and a heavy-tailed gradient norm beside it.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from utils.recovery.tail_fit import t_quantile
from utils.spikelab.atomic import atomic_write
from utils.text import say

CATEGORIES = ["quiet-gaussian", "quiet-heavy", "quiet-correlated", "spikes-gaussian",
              "spikes-heavy", "spikes-gaussian-ar", "spikes-heavy-ar", "warmup-spikes",
              "back-to-back", "improvements", "drifts"]
QUIET = [c for c in CATEGORIES if c.startswith("quiet-")]
_NOISE = {"quiet-gaussian": ("gaussian", False), "quiet-heavy": ("heavy", False),
          "quiet-correlated": (None, True), "spikes-gaussian": ("gaussian", False),
          "spikes-heavy": ("heavy", False), "spikes-gaussian-ar": ("gaussian", True),
          "spikes-heavy-ar": ("heavy", True)}


class TraceFileError(ValueError):
    """A traces file that cannot be used; the message says why in one line."""


def _noise_params(rng: random.Random, category: str) -> dict[str, Any]:
    kind, ar = _NOISE.get(category, (None, rng.random() < 0.5))
    kind = kind or rng.choice(["gaussian", "heavy"])
    noise: dict[str, Any] = {"kind": kind, "phi": round(rng.uniform(0.3, 0.9), 3) if ar else 0.0}
    if kind == "gaussian":
        noise["sigma"] = round(rng.uniform(0.01, 0.05), 4)
    else:
        noise.update(nu=round(rng.uniform(3.0, 6.0), 2), sigma=round(rng.uniform(0.004, 0.012), 4))
    return noise


def _innovation(rng: random.Random, noise: dict[str, Any]) -> float:
    """One innovation with robust sigma (1.4826 x MAD) equal to 1."""
    if noise["kind"] == "gaussian":
        return rng.gauss(0.0, 1.0)
    nu = noise["nu"]
    t = rng.gauss(0.0, 1.0) / math.sqrt(rng.gammavariate(nu / 2.0, 2.0) / nu)
    return t * 0.6745 / t_quantile(nu, 0.75)


def oracle_bar(noise: dict[str, Any], p: float) -> float:
    """The (1 - p) quantile of the noise innovation in log(loss): a spike whose log peak is below it
    is, at budget p per step, mostly indistinguishable from noise even for a perfect predictor."""
    scale = noise["sigma"] * math.sqrt(1.0 - noise["phi"] ** 2)
    if noise["kind"] == "gaussian":
        return scale * t_quantile(1e6, 1.0 - p)
    return scale * 0.6745 * t_quantile(noise["nu"], 1.0 - p) / t_quantile(noise["nu"], 0.75)


def _spike_steps(rng: random.Random, category: str, length: int, avoid: list[int]) -> list[int]:
    if category.startswith("quiet-"):
        return []
    if category == "warmup-spikes":
        return [rng.randrange(20, 150)]
    steps, s = [], 200 + rng.randrange(0, 600)
    while s < length - 40:
        if not any(a - 20 <= s <= a + 100 for a in avoid):
            steps.append(s)
            if category == "back-to-back" and s + 6 < length - 40:
                steps.append(s + rng.randrange(2, 7))
        s += 400 + rng.randrange(0, 1200)
    return steps


def make_trace(category: str, seed: int, length: int | None = None) -> dict[str, Any]:
    """One SYNTHETIC labelled trace of ``category`` (deterministic for a seed); ``length`` defaults
    to 20,000 steps for quiet runs, 600 for warm-up traces and 4,000 otherwise."""
    if category not in CATEGORIES:
        raise ValueError(say(f"unknown category {category!r}; one of {CATEGORIES}",
                             f"categoría desconocida {category!r}; una de {CATEGORIES}"))
    rng = random.Random(f"{category}/{seed}")
    if length is None:
        length = 20_000 if category in QUIET else (600 if category == "warmup-spikes" else 4000)
    noise = _noise_params(rng, category)
    start, floor = rng.uniform(4.0, 8.0), rng.uniform(1.5, 3.5)
    tau = rng.uniform(30, 100) if category == "warmup-spikes" else rng.uniform(150, 1500)
    events: list[list] = []
    if category == "improvements":
        for _ in range(rng.randrange(1, 4)):
            events.append(["improvement", rng.randrange(300, length - 100), rng.uniform(1.2, 1.7)])
    if category == "drifts":
        for _ in range(rng.randrange(1, 3)):
            span = rng.randrange(200, 800)
            events.append(["drift", rng.randrange(300, max(301, length - span)), span,
                           rng.uniform(1.1, 1.5)])
    spikes = _spike_steps(rng, category, length, [e[1] for e in events if e[0] == "improvement"])
    sizes = [round(rng.uniform(1.3, 1.5), 3) for _ in spikes]
    decays = [rng.uniform(1.0, 4.0) for _ in spikes]
    shift = [0.0] * length
    for event in events:
        for t in range(event[1], length):
            if event[0] == "improvement":
                shift[t] -= math.log(event[2])
            else:
                shift[t] += math.log(event[3]) * min(1.0, (t - event[1]) / event[2])
    for s, m, d in zip(spikes, sizes, decays):
        for t in range(s, min(length, s + 60)):
            shift[t] += math.log(1.0 + (m - 1.0) * math.exp(-(t - s) / d))
    phi, sigma = noise["phi"], noise["sigma"]
    innovation_scale = sigma * math.sqrt(1.0 - phi * phi)
    state = sigma * _innovation(rng, noise)
    loss = []
    for t in range(length):
        state = phi * state + innovation_scale * _innovation(rng, noise)
        clean = floor + (start - floor) * math.exp(-t / tau)
        loss.append(round(clean * math.exp(state + shift[t]), 5))
    return {"name": f"{category}/{seed}", "category": category, "synthetic": True, "seed": seed,
            "spikes": spikes, "spike_sizes": sizes, "noise": noise,
            "events": [[e[0], e[1]] for e in events], "loss": loss}


def generate(seed: int = 0, per_category: int = 4, quiet_length: int = 20_000) -> list[dict]:
    """``per_category`` traces of every category, seeds ``seed * 1000 + i``."""
    return [make_trace(c, seed * 1000 + i, quiet_length if c in QUIET else None)
            for c in CATEGORIES for i in range(per_category)]


def synthetic_traces(n: int, length: int, seed: int) -> list[dict[str, Any]]:
    """``n`` SYNTHETIC labelled traces of ``length`` steps, deterministic for a given ``seed``.

    Calibration data for the detectors, not a training run: every trace carries
    ``"synthetic": True``. Each trace is a noisy decaying loss curve
        loss(t) = floor + (start - floor) * exp(-t / tau), times exp(sigma * N(0, 1)) noise
    (start 4.5-5.3, i.e. just below ln(233) = the uniform-guess loss of the course vocabulary,
    floor 1-2.5, tau 200-1000 steps, sigma 0.02-0.05), and a heavy-tailed gradient
    norm (log-normal noise with Student-t(4) tails around a slowly falling level).
    Spikes are injected at known steps (from step 200, at least 150 steps apart, none in the last
    30 steps): from step s on, both series are multiplied by 1 + (m - 1) exp(-(t - s) / d), with
    m in 2.5-4 for the loss, 4-10 for the gradient norm and d in 1-4 steps. The spike steps are in
    ``"spikes"``. Here the gradient-norm spike starts at the same step as the loss spike; whether
    it leads in a real run is a question for the real run.
    """
    rng = random.Random(seed)
    traces = []
    for index in range(n):
        start, floor = rng.uniform(4.5, 5.3), rng.uniform(1.0, 2.5)
        tau, sigma = rng.uniform(200, 1000), rng.uniform(0.02, 0.05)
        grad_level, grad_sigma = rng.uniform(0.5, 2.0), rng.uniform(0.1, 0.2)
        spikes: list[int] = []
        candidate = 200 + rng.randrange(0, 300)
        while candidate < length - 30:
            spikes.append(candidate)
            candidate += 150 + rng.randrange(0, 1500)
        loss, grad_norm = [], []
        for t in range(length):
            clean = floor + (start - floor) * math.exp(-t / tau)
            loss.append(clean * math.exp(sigma * rng.gauss(0.0, 1.0)))
            t_noise = rng.gauss(0.0, 1.0) / math.sqrt(sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(4)) / 4)
            grad_norm.append(grad_level * (0.6 + 0.4 * math.exp(-t / tau)) * math.exp(grad_sigma * t_noise))
        for s in spikes:
            m_loss, m_grad, d = rng.uniform(2.5, 4.0), rng.uniform(4.0, 10.0), rng.uniform(1.0, 4.0)
            for t in range(s, min(length, s + 40)):
                bump = math.exp(-(t - s) / d)
                loss[t] *= 1.0 + (m_loss - 1.0) * bump
                grad_norm[t] *= 1.0 + (m_grad - 1.0) * bump
        traces.append({"synthetic": True, "seed": seed, "index": index, "spikes": spikes,
                       "loss": [round(v, 6) for v in loss],
                       "grad_norm": [round(v, 6) for v in grad_norm]})
    return traces


def load_traces(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a traces file: a JSON list of {"loss": [numbers], "spikes": [steps]}
    (optionally "grad_norm": [numbers]). Raises TraceFileError with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceFileError(say(f"{path}: no such file", f"{path}: no existe el archivo")) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TraceFileError(say(f"{path}: cannot read it ({error})", f"{path}: no se puede leer ({error})")) from None
    if not text.strip():
        raise TraceFileError(say(f"{path}: the file is empty; expected a JSON list of traces",
                                 f"{path}: el archivo está vacío; se esperaba una lista JSON de trazas"))
    try:
        traces = json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceFileError(say(f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})",
                                 f"{path}: no es JSON válido ({error.msg} en la línea {error.lineno}, "
                                 f"columna {error.colno})")) from None
    if not isinstance(traces, list) or not traces:
        got = type(traces).__name__ if traces != [] else say("an empty list", "una lista vacía")
        raise TraceFileError(say(f"{path}: expected a non-empty JSON list of traces, got {got}",
                                 f"{path}: se esperaba una lista JSON de trazas no vacía, y hay {got}"))
    for i, trace in enumerate(traces):
        where = say(f"{path}: trace {i}", f"{path}: traza {i}")
        if not isinstance(trace, dict):
            kind = say("a number", "un número") if isinstance(trace, (int, float)) \
                else say(f"a {type(trace).__name__}", f"un {type(trace).__name__}")
            raise TraceFileError(say(f"{where} is {kind}, not an object ", f"{where} es {kind}, no un objeto ")
                                 + '{"loss": [...], "spikes": [...]}')
        for key in ("loss", "spikes"):
            if key not in trace:
                raise TraceFileError(say(f'{where} has no "{key}" list', f'{where} no tiene la lista "{key}"')
                                     + (say(" (use [] for a trace without spikes)",
                                            " (usa [] para una traza sin picos)") if key == "spikes" else ""))
        for key in ("loss", "grad_norm"):
            values = trace.get(key, [])
            if not isinstance(values, list) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise TraceFileError(say(f'{where}: "{key}" must be a list of numbers',
                                         f'{where}: "{key}" debe ser una lista de números'))
        spikes = trace["spikes"]
        if not isinstance(spikes, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s < len(trace["loss"])
                for s in spikes):
            last = len(trace["loss"]) - 1
            raise TraceFileError(say(f'{where}: "spikes" must be a list of step indices into "loss" (0 .. {last})',
                                     f'{where}: "spikes" debe ser una lista de índices de paso de "loss" '
                                     f'(0 .. {last})'))
    return traces


def write_generated(folder: str | Path) -> Path:
    """Write the generated traces kept in ``tests/traces``: one trace per category (seed 900;
    quiet runs 20,000 steps, warm-up traces 600, the others 2,500; loss rounded to 4 decimals)."""
    traces = [make_trace(c, 900, None if c in QUIET or c == "warmup-spikes" else 2500)
              for c in CATEGORIES]
    for t in traces:
        t["loss"] = [round(v, 4) for v in t["loss"]]
    path = Path(folder) / "generated.json"
    atomic_write(path, json.dumps(traces, separators=(",", ":")) + "\n")
    return path
