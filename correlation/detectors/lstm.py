"""A small LSTM forecaster per series, trained now and then on the series' own past.

The network (one LSTM layer, ``hidden`` units, a linear head) predicts the next point of the
series from the points before it, in the series' own robust units: each value is centred on the
rolling median and divided by the rolling spread *before* that value is seen, which keeps the
input stationary across level changes and makes one architecture fit CPU percentages and tweet
counts alike. The score is the forecast error compared with the series' own recent errors
(``TailCalibrator``): a point is surprising when the model misses it by more than it usually does.

Cost: a gradient step on every point would be far too slow for ingest, so the model is trained in
PyTorch every ``train_every`` points for ``steps`` Adam steps on random stretches of the last
``history`` points, and between trainings the recurrent state is carried forward one point at a
time with the same weights in numpy (a handful of small vector ops, no autograd, no PyTorch call
overhead). After each training the state is re-run over the last ``replay`` points with the new
weights. Training is seeded from the detector's own counter, so runs, and a restored state, give
identical scores.
"""

from __future__ import annotations

import io
from collections import deque
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import PointScore, RollingWindow, TailCalibrator, warming

# One thread: the ingest workers score many series side by side, and on the small matrices here
# extra threads only add synchronisation cost.
torch.set_num_threads(1)

CLIP = 8.0  # inputs beyond 8 robust spreads are clipped so one spike cannot wreck training


class Forecaster(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, time, 1) -> (batch, time)
        out, _ = self.lstm(x)
        return self.head(out).squeeze(-1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class NumpyLSTMStep:
    """The forecaster's weights, applied one time step at a time (PyTorch gate order i, f, g, o)."""

    __slots__ = ("w_ih", "w_hh", "bias", "w_out", "b_out", "hidden")

    def __init__(self, model: Forecaster):
        sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
        self.w_ih = sd["lstm.weight_ih_l0"][:, 0].copy()
        self.w_hh = sd["lstm.weight_hh_l0"].copy()
        self.bias = sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"]
        self.w_out = sd["head.weight"][0].copy()
        self.b_out = float(sd["head.bias"][0])
        self.hidden = self.w_hh.shape[1]

    def step(self, x: float, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Feed one input; return the new (h, c) and the forecast of the next input."""
        H = self.hidden
        gates = self.w_ih * x + self.bias + self.w_hh @ h
        i = _sigmoid(gates[:H])
        f = _sigmoid(gates[H:2 * H])
        g = np.tanh(gates[2 * H:3 * H])
        o = _sigmoid(gates[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        return h, c, float(self.w_out @ h) + self.b_out


class LSTMDetector:
    name = "lstm"

    def __init__(
        self,
        hidden: int = 16,
        window: int = 256,
        history: int = 2048,
        first_train: int = 256,
        train_every: int = 1024,
        steps: int = 20,
        batch: int = 16,
        seq_len: int = 48,
        lr: float = 0.01,
        replay: int = 64,
        memory: int = 4000,
        min_history: int = 16,
        seed: int = 0,
    ):
        self.hidden = hidden
        self.window = window
        self.history = history
        self.first_train = first_train
        self.train_every = train_every
        self.steps = steps
        self.batch = batch
        self.seq_len = seq_len
        self.lr = lr
        self.replay = replay
        self.seed = seed
        self.n = 0
        self.trainings = 0
        self.since_train = 0
        self.values = RollingWindow(window)
        self.inputs: deque[float] = deque(maxlen=history)
        self.model: Forecaster | None = None
        self.step_fn: NumpyLSTMStep | None = None
        self.h = np.zeros(hidden)
        self.c = np.zeros(hidden)
        self.forecast = 0.0
        self.cal = TailCalibrator(memory, min_history)

    def _normalise(self, value: float) -> tuple[float, float, float]:
        med, scale = self.values.center_scale()
        u = (value - med) / scale
        return min(CLIP, max(-CLIP, u)), med, scale

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        if self.n < 16:
            self.values.push(value)
            self.n += 1
            return warming(self.n - 1, self.first_train)
        u, med, scale = self._normalise(value)
        result = None
        if self.step_fn is not None:
            err = abs(u - self.forecast)
            score = self.cal.score(err)
            self.cal.learn(err)
            expected = med + self.forecast * scale
            band = self.cal.window.quantile(0.99) * scale
            result = PointScore(
                score=score,
                expected_low=expected - band,
                expected_high=expected + band,
                statistic=err,
                details={"forecast": expected},
            )
            self.h, self.c, self.forecast = self.step_fn.step(u, self.h, self.c)
        self.inputs.append(u)
        self.values.push(value)
        self.n += 1
        self.since_train += 1
        due = self.train_every if self.model is not None else self.first_train
        if len(self.inputs) >= self.first_train and self.since_train >= due:
            self._train()
        return result if result is not None else warming(self.n - 1, self.first_train)

    def _train(self) -> None:
        torch.set_num_threads(1)
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.trainings)
        if self.model is None:
            with torch.random.fork_rng():
                torch.manual_seed(self.seed)
                self.model = Forecaster(self.hidden)
        data = torch.tensor(np.asarray(self.inputs, dtype=np.float32))
        L = min(self.seq_len, len(data) - 1)
        starts = torch.randint(0, len(data) - L, (self.steps, self.batch), generator=gen)
        offsets = torch.arange(L + 1)
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        burn_in = L // 4  # the first steps start from a zero state and say little
        self.model.train()
        for s in range(self.steps):
            seqs = data[starts[s][:, None] + offsets]
            pred = self.model(seqs[:, :-1, None])
            loss = torch.mean((pred[:, burn_in:] - seqs[:, 1 + burn_in:]) ** 2)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            opt.step()
        self.model.eval()
        self._load_step()
        self.trainings += 1
        self.since_train = 0

    def _load_step(self) -> None:
        """Refresh the numpy copy of the weights and re-run the recent inputs through it."""
        self.step_fn = NumpyLSTMStep(self.model)
        h, c, f = np.zeros(self.hidden), np.zeros(self.hidden), 0.0
        recent = list(self.inputs)[-self.replay:]
        for u in recent:
            h, c, f = self.step_fn.step(u, h, c)
        self.h, self.c, self.forecast = h, c, f

    # -- state ------------------------------------------------------------------------------

    def weights_bytes(self) -> bytes | None:
        if self.model is None:
            return None
        buf = io.BytesIO()
        torch.save(self.model.state_dict(), buf)
        return buf.getvalue()

    def get_state(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "params": {"hidden": self.hidden, "window": self.window, "history": self.history,
                       "first_train": self.first_train, "train_every": self.train_every,
                       "steps": self.steps, "batch": self.batch, "seq_len": self.seq_len, "lr": self.lr,
                       "replay": self.replay, "memory": self.cal.window.size,
                       "min_history": self.cal.min_history, "seed": self.seed},
            "n": self.n,
            "trainings": self.trainings,
            "since_train": self.since_train,
            "values": self.values.to_array(),
            "inputs": np.asarray(self.inputs, dtype=float),
            "weights": self.weights_bytes(),
            "h": self.h.copy(),
            "c": self.c.copy(),
            "forecast": self.forecast,
            "cal": self.cal.get_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "LSTMDetector":
        det = cls(**state["params"])
        det.n = int(state["n"])
        det.trainings = int(state["trainings"])
        det.since_train = int(state["since_train"])
        det.values = RollingWindow(det.window, state["values"])
        det.inputs.extend(np.asarray(state["inputs"], dtype=float).tolist())
        if state["weights"] is not None:
            det.model = Forecaster(det.hidden)
            det.model.load_state_dict(torch.load(io.BytesIO(state["weights"]), weights_only=True))
            det.model.eval()
            det.step_fn = NumpyLSTMStep(det.model)
        det.h = np.asarray(state["h"], dtype=float).copy()
        det.c = np.asarray(state["c"], dtype=float).copy()
        det.forecast = float(state["forecast"])
        det.cal = TailCalibrator.from_state(state["cal"])
        return det
