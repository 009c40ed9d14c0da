"""Visual category model: video-level multi-label classifier over a video's shot embeddings.

Two aggregators over the shots (padded to a batch with a mask):
- ``MeanPoolClassifier`` — masked mean of shot vectors → MLP (the baseline);
- ``NeXtVLADClassifier`` — NeXtVLAD (Lin et al., 2018): shots are expanded, split into groups,
  softly assigned to a few learnable clusters with a per-group attention, and the residuals
  to the cluster centres are summed → a fixed-size descriptor → FC → context gating.
Both concatenate optional metadata features (language, duration, catalog) before the output
layer and end in sigmoids; training is per-label binary cross-entropy with per-example,
per-label weights (0 = unknown, so pseudo-labels can leave labels out).

Exported to ONNX with dynamic batch and shot axes (``shots [B,S,D]``, ``mask [B,S]``,
``meta [B,M]`` → ``probs [B,L]``) and served with ONNX Runtime (``OrtVisualModel``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from shotline.errors import BadInput

INPUTS = ("shots", "mask", "meta")
OPSET = 17


class MeanPoolClassifier(nn.Module):
    def __init__(self, dim: int, n_labels: int, meta_dim: int = 0, hidden: int = 512, dropout: float = 0.3):
        super().__init__()
        self.config = dict(kind="meanpool", dim=dim, n_labels=n_labels, meta_dim=meta_dim, hidden=hidden)
        self.body = nn.Sequential(nn.Linear(dim + meta_dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, n_labels)

    def forward(self, shots: torch.Tensor, mask: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1)
        pooled = (shots * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.out(self.body(torch.cat([pooled, meta], dim=-1)))


class NeXtVLADClassifier(nn.Module):
    def __init__(self, dim: int, n_labels: int, meta_dim: int = 0, clusters: int = 8, groups: int = 4,
                 expansion: int = 2, hidden: int = 512, dropout: float = 0.3):
        super().__init__()
        if (dim * expansion) % groups:
            raise ValueError("dim * expansion must be divisible by groups")
        self.config = dict(kind="nextvlad", dim=dim, n_labels=n_labels, meta_dim=meta_dim, clusters=clusters,
                           groups=groups, expansion=expansion, hidden=hidden)
        self.K, self.G = clusters, groups
        self.F = dim * expansion // groups  # per-group feature size
        self.expand = nn.Linear(dim, dim * expansion)
        self.attention = nn.Linear(dim * expansion, groups)
        self.assign = nn.Linear(dim * expansion, groups * clusters)
        self.centres = nn.Parameter(torch.randn(1, self.F, clusters) * 0.01)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.F * clusters, hidden)
        self.gate = nn.Sequential(nn.Linear(hidden, hidden // 4), nn.ReLU(), nn.Linear(hidden // 4, hidden), nn.Sigmoid())
        self.out = nn.Linear(hidden + meta_dim, n_labels)

    def forward(self, shots: torch.Tensor, mask: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        B, S = shots.shape[0], shots.shape[1]
        x = self.expand(shots)  # [B,S,λD]
        att = torch.sigmoid(self.attention(x)) * mask.unsqueeze(-1)  # [B,S,G]; padding gets 0
        act = torch.softmax(self.assign(x).reshape(B, S, self.G, self.K), dim=-1) * att.unsqueeze(-1)
        act = act.reshape(B, S * self.G, self.K)  # [B,SG,K]
        feats = x.reshape(B, S * self.G, self.F)  # [B,SG,F]
        a = act.sum(1, keepdim=True) * self.centres  # [B,F,K]
        vlad = torch.bmm(feats.transpose(1, 2), act) - a  # [B,F,K] residual sums
        vlad = nn.functional.normalize(vlad, dim=1).reshape(B, self.F * self.K)
        h = self.fc(self.drop(vlad))
        h = h * self.gate(h)  # context gating (SE)
        return self.out(torch.cat([h, meta], dim=-1))


def build(kind: str, **config: int) -> nn.Module:
    if kind == "meanpool":
        return MeanPoolClassifier(**config)
    if kind == "nextvlad":
        return NeXtVLADClassifier(**config)
    raise BadInput("bad_model_kind", f"unknown visual model kind {kind!r}")


def pad(videos: Sequence[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged [n_i, D] shot matrices → (shots [B,S,D], mask [B,S]); S ≥ 1 so zero-shot videos pad."""
    for i, v in enumerate(videos):
        if v.ndim != 2 or v.shape[1] != dim:
            raise BadInput("bad_shot_vectors", f"video {i}: expected [n_shots, {dim}], got {list(v.shape)}")
    S = max([len(v) for v in videos] + [1])
    shots = np.zeros((len(videos), S, dim), np.float32)
    mask = np.zeros((len(videos), S), np.float32)
    for i, v in enumerate(videos):
        shots[i, : len(v)] = v
        mask[i, : len(v)] = 1.0
    return shots, mask


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_shots: int = 64  # random subset of shots per video per step (augmentation + memory bound)
    seed: int = 0


def train(model: nn.Module, videos: Sequence[np.ndarray], meta: np.ndarray, y: np.ndarray, w: np.ndarray,
          cfg: TrainConfig | None = None) -> nn.Module:
    """Per-label weighted BCE. ``y`` [N,L] {0,1}; ``w`` [N,L] ≥ 0 (0 = label unknown)."""
    cfg = cfg or TrainConfig()
    if not len(videos):
        raise BadInput("no_training_data", "no videos to train the visual model on")
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dim = model.config["dim"]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    Y, W, M = (torch.as_tensor(a, dtype=torch.float32) for a in (y, w, meta))
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(videos), generator=g).numpy()
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            batch = [videos[i] if len(videos[i]) <= cfg.max_shots
                     else videos[i][np.sort(rng.choice(len(videos[i]), cfg.max_shots, replace=False))] for i in idx]
            shots, mask = pad(batch, dim)
            logits = model(torch.from_numpy(shots), torch.from_numpy(mask), M[idx])
            loss = (loss_fn(logits, Y[idx]) * W[idx]).sum() / W[idx].sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


class _WithSigmoid(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, shots: torch.Tensor, mask: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.inner(shots, mask, meta))


@torch.no_grad()
def torch_predict(model: nn.Module, videos: Sequence[np.ndarray], meta: np.ndarray) -> np.ndarray:
    model.eval()
    shots, mask = pad(videos, model.config["dim"])
    return torch.sigmoid(model(torch.from_numpy(shots), torch.from_numpy(mask),
                               torch.as_tensor(meta, dtype=torch.float32))).numpy()


def export_onnx(model: nn.Module) -> bytes:
    """The model with a sigmoid on top as ONNX bytes; batch and shot axes are dynamic."""
    model.eval()
    cfg = model.config
    example = (torch.zeros(2, 3, cfg["dim"]), torch.ones(2, 3), torch.zeros(2, cfg["meta_dim"]))
    buf = io.BytesIO()
    torch.onnx.export(
        _WithSigmoid(model), example, buf, input_names=list(INPUTS), output_names=["probs"], opset_version=OPSET,
        dynamic_axes={"shots": {0: "batch", 1: "n_shots"}, "mask": {0: "batch", 1: "n_shots"},
                      "meta": {0: "batch"}, "probs": {0: "batch"}},
        dynamo=False,
    )
    return buf.getvalue()


class OrtVisualModel:
    """ONNX Runtime serving of an exported visual model (no torch needed at run time)."""

    def __init__(self, onnx_bytes: bytes, providers: list[str] | None = None):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one video at a time is tiny; leave cores to the service
        self.session = ort.InferenceSession(onnx_bytes, opts, providers=providers or ["CPUExecutionProvider"])
        shots = self.session.get_inputs()[0]
        self.dim = int(shots.shape[2])
        self.meta_dim = int(self.session.get_inputs()[2].shape[1])
        self.n_labels = int(self.session.get_outputs()[0].shape[1])

    def predict(self, videos: Sequence[np.ndarray], meta: np.ndarray) -> np.ndarray:
        if not len(videos):
            return np.zeros((0, self.n_labels), np.float32)
        shots, mask = pad(videos, self.dim)
        meta = np.asarray(meta, np.float32).reshape(len(videos), self.meta_dim)
        return self.session.run(["probs"], {"shots": shots, "mask": mask, "meta": meta})[0]
