"""`make eval-al`: Video Annotator experiment-1 protocol on labelled embedding sets.

For each binary task and seed: stratified split into a label pool and a held-out test set;
each strategy spends label budgets (25/50/100/500/1000) on the pool, a classifier is trained
with the trainer's own policy (``fit_label_model``) and scored by AP on the test set.

Strategies: ``random`` (uniform sample), ``zero_shot`` (top-k by prompt similarity), ``mix``
(half zero-shot top-k, half random), ``ours`` (the active loop of ``learning.active`` with an
oracle answering each round's feeds).

Data: scikit-learn's bundled ``load_digits`` (10 one-vs-rest tasks, standardised + L2-normalised)
and optionally ``load_breast_cancer``; or any ``.npz`` with ``X`` (n×d), ``Y`` (n×T or n) and
optionally ``names`` (T) and ``text`` (T×d, an all-zero row = no prompt). Bundled sets have
no text encoder, so the "text prompt" is the mean of a tiny disjoint prompt set of positives
(``--prompt-size``, default 5) removed from the pool — a stand-in for a text embedding.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from shotline.errors import BadInput

from shotline.learning.active import ActiveConfig, next_batch
from shotline.learning.classifier import LinearModel, fit_label_model
from shotline.learning.metrics import average_precision
from shotline.learning.scoring import iter_chunks, score_chunks

BUDGETS = (25, 50, 100, 500, 1000)
STRATEGIES = ("random", "zero_shot", "mix", "ours")
BASELINES = ("random", "zero_shot", "mix")


@dataclass
class Task:
    name: str
    X: np.ndarray  # (n, d) float32, L2-normalised
    y: np.ndarray  # (n,) bool
    text: np.ndarray | None = None  # prompt embedding; None → use a prompt set from the pool
    prompt_size: int = 0  # positives taken out of the pool as the prompt when text is None


@dataclass
class Cell:
    """One (strategy, budget): per-seed AP and the test scores needed for a bootstrap CI."""

    aps: list[float] = field(default_factory=list)
    tests: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def mean(self) -> float:
        return float(np.mean(self.aps))

    def ci(self, n_boot: int = 200, seed: int = 0) -> tuple[float, float]:
        rng = np.random.default_rng(seed)
        per_seed = []
        for y, s in self.tests:
            if s is None:  # constant scorer: AP is the test prevalence under any resample
                counts = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=n_boot)
                per_seed.append((counts * y).sum(1) / len(y))
            else:
                counts = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=n_boot)
                per_seed.append(average_precision(y, s, counts))
        boots = np.nanmean(np.vstack(per_seed), axis=0)
        lo, hi = np.nanquantile(boots, [0.025, 0.975])
        return float(lo), float(hi)


def _normalise(X: np.ndarray) -> np.ndarray:
    X = StandardScaler().fit_transform(X)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def digits_tasks(prompt_size: int = 5) -> list[Task]:
    X, y = load_digits(return_X_y=True)
    Xn = _normalise(X)
    return [Task(f"digits-{d}", Xn, y == d, None, prompt_size) for d in range(10)]


def breast_cancer_tasks(prompt_size: int = 5) -> list[Task]:
    X, y = load_breast_cancer(return_X_y=True)
    return [Task("breast_cancer-malignant", _normalise(X), y == 0, None, prompt_size)]


def npz_tasks(path: Path, prompt_size: int = 0) -> list[Task]:
    """Tasks from an .npz: X (n×d), Y (n×T or n), optional names (T), text (T×d)."""
    try:
        z = np.load(path, allow_pickle=False)
        X = np.asarray(z["X"], dtype=np.float32)
        Y = np.asarray(z["Y"] if "Y" in z else z["y"])
    except (OSError, KeyError, ValueError) as exc:
        raise BadInput("bad_eval_set", f"cannot read {path}: {exc}") from exc
    Y = Y.reshape(len(Y), -1)
    if X.ndim != 2 or Y.shape[0] != X.shape[0]:
        raise BadInput("bad_eval_set", f"X {X.shape} and Y {Y.shape} do not line up")
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    names = [str(n) for n in z["names"]] if "names" in z else [f"task-{t}" for t in range(Y.shape[1])]
    text = np.asarray(z["text"], dtype=np.float32).reshape(Y.shape[1], -1) if "text" in z else None
    tasks = []
    for t in range(Y.shape[1]):
        prompt = text[t] if text is not None and np.any(text[t]) else None
        tasks.append(Task(names[t], X, Y[:, t].astype(bool), prompt, 0 if prompt is not None else prompt_size))
    return tasks


def _fit_or_none(X: np.ndarray, y: np.ndarray, text: np.ndarray | None, seed: int, tune: bool) -> LinearModel | None:
    """The trainer's policy, or None when it has nothing to go on (AP = prevalence)."""
    try:
        return fit_label_model(X, y, text, seed, tune=tune)
    except BadInput:
        return None


def active_order(Xp: np.ndarray, yp: np.ndarray, text: np.ndarray | None, budget: int,
                 cfg: ActiveConfig, seed: int) -> list[int]:
    """Simulate our loop with an oracle: pool indices in the order they get labelled."""
    ids = np.array([str(i) for i in range(len(Xp))], dtype=object)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < min(budget, len(Xp)):
        lab = np.array(order, dtype=int)
        model = _fit_or_none(Xp[lab], yp[lab], text, seed, tune=False)  # fast fits between rounds
        labelled = {str(i) for i in order}
        if model is None:  # no prompt, no labels: only random is possible
            rest = np.setdiff1d(np.arange(len(Xp)), lab)
            batch = [int(i) for i in rng.permutation(rest)[: cfg.round_size]]
        else:
            table = score_chunks(model, iter_chunks(ids, Xp), n=cfg.round_size, exclude=labelled,
                                 seed=seed + len(order))
            n_pos = int(yp[lab].sum())
            batch = [int(s) for s in next_batch(model, table, labelled, n_pos, len(order) - n_pos, cfg)]
        if not batch:
            break
        order.extend(batch)
    return order[:budget]


def strategy_orders(Xp: np.ndarray, yp: np.ndarray, text: np.ndarray | None, budget: int,
                    cfg: ActiveConfig, seed: int) -> dict[str, list[int] | None]:
    rng = np.random.default_rng(seed)
    rand = rng.permutation(len(Xp))
    orders: dict[str, list[int] | None] = {"random": list(rand[:budget])}
    if text is None:
        orders["zero_shot"] = orders["mix"] = None
    else:
        zs = np.argsort(-(Xp @ text), kind="stable")
        orders["zero_shot"] = list(zs[:budget])
        mix: list[int] = []
        seen: set[int] = set()
        for a, b in zip(zs, rand):  # alternate prompt top-k and random, skipping repeats
            for i in (int(a), int(b)):
                if i not in seen and len(mix) < budget:
                    mix.append(i)
                    seen.add(i)
        orders["mix"] = mix
    orders["ours"] = active_order(Xp, yp, text, budget, cfg, seed)
    return orders


def run_task(task: Task, budgets: tuple[int, ...], seeds: int, cfg: ActiveConfig,
             test_size: float = 1 / 3, seed_offset: int = 0) -> dict[str, dict[int, Cell]]:
    cells: dict[str, dict[int, Cell]] = {s: {} for s in STRATEGIES}
    for seed in range(seed_offset, seed_offset + seeds):
        idx = np.arange(len(task.y))
        pool, test = train_test_split(idx, test_size=test_size, stratify=task.y, random_state=seed)
        text = task.text
        if text is None and task.prompt_size > 0:  # prompt set: a few positives leave the pool
            rng = np.random.default_rng(1000 + seed)
            prompt = rng.choice(pool[task.y[pool]], size=task.prompt_size, replace=False)
            pool = np.setdiff1d(pool, prompt)
            text = task.X[prompt].mean(axis=0)
            text = text / np.linalg.norm(text)
        Xp, yp = task.X[pool], task.y[pool]
        Xt, yt = task.X[test], task.y[test]
        usable = [b for b in budgets if b <= len(pool)]  # a budget above the pool size is skipped
        if not usable:
            continue
        orders = strategy_orders(Xp, yp, text, max(usable), cfg, seed)
        for strat, order in orders.items():
            if order is None:
                continue
            for b in usable:
                sel = np.asarray(order[:b], dtype=int)
                model = _fit_or_none(Xp[sel], yp[sel], text, seed, tune=True)
                scores = None if model is None else model.decision(Xt)
                ap = float(yt.mean()) if scores is None else float(average_precision(yt, scores))
                cell = cells[strat].setdefault(b, Cell())
                cell.aps.append(ap)
                cell.tests.append((yt, scores))
    return cells


def summarise(results: dict[str, dict[str, dict[int, Cell]]], budgets: tuple[int, ...]) -> dict:
    """Per budget: median over tasks of (ours − best baseline) in AP points, and win counts."""
    summary = {}
    for b in budgets:
        lifts, wins, n = [], 0, 0
        for cells in results.values():
            if b not in cells["ours"]:
                continue
            base = [cells[s][b].mean() for s in BASELINES if b in cells[s]]
            lift = cells["ours"][b].mean() - max(base)
            lifts.append(lift)
            wins += lift >= -1e-9
            n += 1
        if n:
            summary[b] = {"median_lift_ap_points": 100 * float(np.median(lifts)), "ours_ge_best": wins, "tasks": n}
    return summary


def print_report(results: dict[str, dict[str, dict[int, Cell]]], summary: dict, budgets: tuple[int, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for name, cells in results.items():
        t = Table(title=f"{name}: test AP, mean over seeds [95% bootstrap CI]")
        t.add_column("budget", justify="right")
        for s in STRATEGIES:
            t.add_column(s, justify="right")
        for b in budgets:
            if b not in cells["ours"]:
                continue
            row = [str(b)]
            for s in STRATEGIES:
                c = cells[s].get(b)
                row.append("n/a" if c is None else f"{c.mean():.3f} [{c.ci()[0]:.3f}, {c.ci()[1]:.3f}]")
            t.add_row(*row)
        console.print(t)
    t = Table(title="ours vs best baseline (per task: max of random / zero_shot / mix)")
    for col in ("budget", "median lift (AP points)", "tasks where ours ≥ best"):
        t.add_column(col, justify="right")
    for b, s in summary.items():
        t.add_row(str(b), f"{s['median_lift_ap_points']:+.2f}", f"{s['ours_ge_best']}/{s['tasks']}")
    console.print(t)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m research.eval_al", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=("digits", "breast_cancer", "all"), default="digits")
    ap.add_argument("--npz", type=Path, help="labelled embedding set (overrides --dataset)")
    ap.add_argument("--budgets", type=lambda s: tuple(int(x) for x in s.split(",")), default=BUDGETS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--prompt-size", type=int, default=5)
    ap.add_argument("--round-size", type=int, default=ActiveConfig.round_size)
    ap.add_argument("--tasks", type=int, default=0, help="only the first N tasks (0 = all)")
    ap.add_argument("--seed-offset", type=int, default=0, help="tune on other splits than you report")
    ap.add_argument("--mix", type=lambda s: dict(kv.split("=") for kv in s.split(",")), default={},
                    help="override ActiveConfig fields, e.g. borderline=0.5,late_random=0.1")
    ap.add_argument("--json", type=Path, help="also write the summary and per-task means here")
    args = ap.parse_args(argv)

    if args.npz:
        tasks = npz_tasks(args.npz, args.prompt_size)
    else:
        tasks = []
        if args.dataset in ("digits", "all"):
            tasks += digits_tasks(args.prompt_size)
        if args.dataset in ("breast_cancer", "all"):
            tasks += breast_cancer_tasks(args.prompt_size)
    if args.tasks:
        tasks = tasks[: args.tasks]
    cfg = ActiveConfig(round_size=args.round_size,
                       **{k: (int if k == "late_after" else float)(v) for k, v in args.mix.items()})
    t0 = time.perf_counter()
    results = {task.name: run_task(task, args.budgets, args.seeds, cfg, seed_offset=args.seed_offset)
               for task in tasks}
    summary = summarise(results, args.budgets)
    print_report(results, summary, args.budgets)
    print(f"{len(tasks)} tasks × {args.seeds} seeds in {time.perf_counter() - t0:.1f}s")
    doc = {
        "summary": {str(b): v for b, v in summary.items()},
        "tasks": {n: {s: {str(b): c.mean() for b, c in cells[s].items()} for s in STRATEGIES}
                  for n, cells in results.items()},
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
