"""Calibration quality of the trainer's probabilities and thresholds, on held-out data.

Protocol of ``research.eval_al`` (digits, 10 one-vs-rest tasks × seeds; per seed a stratified
pool/test split, a 5-positive prompt taken out of the pool): a label budget is spent on the pool,
``fit_label_model`` fits (and calibrates, on its own CV folds) with a precision target, and the
held-out test set measures

- ECE (10 equal-width bins) of the calibrated probabilities — and, for comparison, of the raw
  logistic of the model's logit (``proba``, what a consumer would get without calibration);
- the realised precision and recall at the version's threshold vs the target and vs the
  recall the version estimated from its out-of-fold scores.

Label sets: ``random`` (a uniform sample: labels have the catalog's class mix) and ``ours``
(the active loop's feeds, answered by an oracle: labels over-sample positives and borderline
shots, so probabilities calibrated to the labels are not calibrated to the catalog).

``python -m research.calibration [--budgets 25,50,100,500] [--seeds 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from research.eval_al import Task, active_order, digits_tasks
from shotline.errors import BadInput
from shotline.learning.active import ActiveConfig
from shotline.learning.classifier import DEFAULT_PRECISION_TARGET, fit_label_model
from shotline.learning.metrics import expected_calibration_error

BUDGETS = (25, 50, 100, 500)
STRATEGIES = ("random", "ours")


@dataclass
class Cell:
    """Per (strategy, budget): one entry per (task, seed) run."""

    runs: int = 0
    calibrated: int = 0
    ece: list[float] = field(default_factory=list)  # calibrated runs
    ece_raw: list[float] = field(default_factory=list)  # the same runs, raw sigmoid of the logit
    with_threshold: int = 0
    precision: list[float] = field(default_factory=list)  # runs with a threshold and ≥1 test hit
    recall: list[float] = field(default_factory=list)  # runs with a threshold
    recall_est: list[float] = field(default_factory=list)  # the version's OOF recall, same runs
    no_hits: int = 0  # threshold above every test probability

    def row(self, target: float) -> dict[str, float]:
        m = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
        return {
            "runs": self.runs, "calibrated_share": self.calibrated / self.runs if self.runs else float("nan"),
            "ece": m(self.ece), "ece_raw_sigmoid": m(self.ece_raw),
            "threshold_share": self.with_threshold / self.runs if self.runs else float("nan"),
            "precision_at_threshold": m(self.precision), "recall_at_threshold": m(self.recall),
            "recall_estimated_oof": m(self.recall_est),
            "share_precision_ge_target": (float(np.mean(np.asarray(self.precision) >= target - 1e-12))
                                          if self.precision else float("nan")),
            "no_test_hits": self.no_hits,
        }


def run_task(task: Task, budgets: tuple[int, ...], seeds: int, strategies: tuple[str, ...], target: float,
             cfg: ActiveConfig, cells: dict[str, dict[int, Cell]]) -> None:
    for seed in range(seeds):
        idx = np.arange(len(task.y))
        pool, test = train_test_split(idx, test_size=1 / 3, stratify=task.y, random_state=seed)
        rng = np.random.default_rng(1000 + seed)  # the prompt set of research.eval_al
        prompt = rng.choice(pool[task.y[pool]], size=task.prompt_size, replace=False)
        pool = np.setdiff1d(pool, prompt)
        text = task.X[prompt].mean(axis=0)
        text = text / np.linalg.norm(text)
        Xp, yp, Xt, yt = task.X[pool], task.y[pool], task.X[test], task.y[test]
        usable = [b for b in budgets if b <= len(pool)]
        orders = {}
        if "random" in strategies:
            orders["random"] = list(np.random.default_rng(seed).permutation(len(Xp))[: max(usable)])
        if "ours" in strategies:
            orders["ours"] = active_order(Xp, yp, text, max(usable), cfg, seed)
        for strat, order in orders.items():
            for b in usable:
                sel = np.asarray(order[:b], dtype=int)
                cell = cells[strat].setdefault(b, Cell())
                cell.runs += 1
                try:
                    model = fit_label_model(Xp[sel], yp[sel], text, seed, precision_target=target)
                except BadInput:
                    continue
                if not model.calibrated:
                    continue
                cell.calibrated += 1
                p = model.probability(Xt)
                cell.ece.append(expected_calibration_error(yt, p))
                cell.ece_raw.append(expected_calibration_error(yt, model.proba(Xt).astype(np.float64)))
                if model.threshold is None:
                    continue
                cell.with_threshold += 1
                hit = p >= model.threshold
                cell.recall.append(float(hit[yt].mean()))
                cell.recall_est.append(float(model.threshold_recall))
                if hit.any():
                    cell.precision.append(float(yt[hit].mean()))
                else:
                    cell.no_hits += 1


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m research.calibration", description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", type=lambda s: tuple(int(x) for x in s.split(",")), default=BUDGETS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=0, help="only the first N digits tasks (0 = all)")
    ap.add_argument("--strategies", type=lambda s: tuple(s.split(",")), default=STRATEGIES)
    ap.add_argument("--target", type=float, default=DEFAULT_PRECISION_TARGET)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    tasks = digits_tasks(5)
    if args.tasks:
        tasks = tasks[: args.tasks]
    cells: dict[str, dict[int, Cell]] = {s: {} for s in args.strategies}
    t0 = time.perf_counter()
    for task in tasks:
        run_task(task, args.budgets, args.seeds, args.strategies, args.target, ActiveConfig(), cells)
    doc = {s: {str(b): c.row(args.target) for b, c in sorted(cs.items())} for s, cs in cells.items()}
    hdr = ("labels", "calibrated", "ECE", "ECE raw", "thr found", "precision", "recall", "recall est.",
           "prec ≥ target")
    for s, rows in doc.items():
        print(f"\n{s} labels, {len(tasks)} tasks × {args.seeds} seeds, target precision {args.target:g}")
        print(" | ".join(hdr))
        for b, r in rows.items():
            print(" | ".join([b, f"{r['calibrated_share']:.0%}", f"{r['ece']:.3f}", f"{r['ece_raw_sigmoid']:.3f}",
                              f"{r['threshold_share']:.0%}", f"{r['precision_at_threshold']:.3f}",
                              f"{r['recall_at_threshold']:.3f}", f"{r['recall_estimated_oof']:.3f}",
                              f"{r['share_precision_ge_target']:.0%}"]))
    print(f"\n{time.perf_counter() - t0:.1f}s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
