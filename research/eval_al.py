"""`make eval-al`: Video Annotator experiment-1 protocol on labelled embedding sets.

For each binary task and seed: stratified split into a label pool and a held-out test set;
each strategy spends label budgets (25/50/100/500/1000) on the pool, a classifier is trained
with the trainer's own policy (``fit_label_model``) and scored by AP on the test set.

Strategies: ``random`` (uniform sample), ``zero_shot`` (top-k by prompt similarity), ``mix``
(half zero-shot top-k, half random), ``ours`` (the active loop of ``learning.active`` with an
oracle answering each round's feeds).

Never worse than search: on every labelled set a strategy produces, the held-out AP of four
models is recorded — ``deployed`` (what ``fit_label_model`` chose by CV), ``zero_shot`` (the
prompt's cosine on the joint head: what text search ranks; independent of the labels),
``trained`` (the policy without a prompt: tuned class-balanced LR on the training head) and
``combined`` (LR on the joint head with the zero-shot score as a feature, C tuned on the same
folds as the product; fitted alone) — and how often, by how much, deployed < zero-shot. A model
that the labels cannot fit (e.g. trained with < 2 positives) scores AP = test prevalence.

Data: scikit-learn's bundled ``load_digits`` (10 one-vs-rest tasks, standardised + L2-normalised)
and optionally ``load_breast_cancer``; or any ``.npz`` with ``X`` (n×d), ``Y`` (n×T or n) and
optionally ``names`` (T), ``text`` (T×d, an all-zero row = no prompt), ``X_joint`` (n×d', the
joint head when ``X`` is the training head, as in the product) and ``groups`` (n: samples that
must not straddle the pool/test split, e.g. keyframes of one shot). Bundled sets have
no text encoder, so the "text prompt" is the mean of a tiny disjoint prompt set of positives
(``--prompt-size``, default 5) removed from the pool — a stand-in for a text embedding.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from shotline.errors import BadInput

from shotline.learning.active import ActiveConfig, next_batch
from shotline.learning.classifier import JOINT_KINDS, LinearModel, fit_label_model
from shotline.learning.metrics import average_precision
from shotline.learning.scoring import iter_chunks, score_chunks

BUDGETS = (25, 50, 100, 500, 1000)
STRATEGIES = ("random", "zero_shot", "mix", "ours")
BASELINES = ("random", "zero_shot", "mix")
MODELS = ("deployed", "zero_shot", "trained", "combined")  # compared on every strategy's labelled sets


@dataclass
class Task:
    name: str
    X: np.ndarray  # (n, d) float32, L2-normalised
    y: np.ndarray  # (n,) bool
    text: np.ndarray | None = None  # prompt embedding; None → use a prompt set from the pool
    prompt_size: int = 0  # positives taken out of the pool as the prompt when text is None
    X_joint: np.ndarray | None = None  # (n, d') joint head when X is the training head; None = X
    groups: np.ndarray | None = None  # (n,) split groups (keyframes of one shot stay together)


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
    Xj = None
    if "X_joint" in z:
        Xj = np.asarray(z["X_joint"], dtype=np.float32)
        if Xj.ndim != 2 or len(Xj) != len(X):
            raise BadInput("bad_eval_set", f"X_joint {Xj.shape} and X {X.shape} do not line up")
        Xj = Xj / np.maximum(np.linalg.norm(Xj, axis=1, keepdims=True), 1e-12)
    groups = np.asarray(z["groups"]) if "groups" in z else None
    if groups is not None and groups.shape != (len(X),):
        raise BadInput("bad_eval_set", f"groups {groups.shape} and X {X.shape} do not line up")
    tasks = []
    for t in range(Y.shape[1]):
        prompt = text[t] if text is not None and np.any(text[t]) else None
        tasks.append(Task(names[t], X, Y[:, t].astype(bool), prompt, 0 if prompt is not None else prompt_size,
                          X_joint=Xj, groups=groups))
    return tasks


def _fit_or_none(X: np.ndarray, y: np.ndarray, text: np.ndarray | None, seed: int, tune: bool,
                 X_joint: np.ndarray | None = None) -> LinearModel | None:
    """The trainer's policy, or None when it has nothing to go on (AP = prevalence)."""
    try:
        return fit_label_model(X, y, text, seed, tune=tune, X_joint=X_joint)
    except BadInput:
        return None


def _combined_only(Xj: np.ndarray, y: np.ndarray, text: np.ndarray, seed: int, tune: bool) -> LinearModel | None:
    """The product's *combined* candidate fitted on its own (None without both classes): C tuned
    on the product's folds when each class has ≥ 5 labels, else its default C."""
    from shotline.learning import classifier as clf  # private helpers: the exact candidate the trainer fits

    y = np.asarray(y).astype(np.int8)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        return None
    Xj = np.asarray(Xj, dtype=np.float64)
    t = (text / np.linalg.norm(text)).astype(np.float64)
    C = clf.DEFAULT_C
    smallest = min(n_pos, len(y) - n_pos)
    if tune and smallest >= clf.MIN_PER_CLASS_FOR_TUNING:
        folds = clf._folds(y, seed)

        def oof(c: float) -> np.ndarray:
            out = np.empty(len(y))
            for tr, te in folds:
                w, b = clf._fit_combined(Xj[tr], y[tr], t, c)
                out[te] = Xj[te] @ w + b
            return out

        with clf._THREADS.limit(limits=1):
            C = clf._tuned_oof(oof, y, folds, clf.C_GRID)[0]
    with clf._THREADS.limit(limits=1):
        w, b = clf._fit_combined(Xj, y, t, C)
    return LinearModel(w=w, b=b, kind="combined", C=C, n_pos=n_pos, n_neg=len(y) - n_pos)


def _ap(yt: np.ndarray, scores: np.ndarray | None) -> float:
    return float(yt.mean()) if scores is None else float(average_precision(yt, scores))


@dataclass
class Comparison:
    """One labelled set (task, seed, strategy, budget): held-out AP of each model + what was deployed."""

    task: str
    seed: int
    strategy: str
    budget: int
    n_pos: int
    ap: dict[str, float]
    chosen: str  # the deployed kind ("none" when nothing could be fitted)


def compare_models(Xs: np.ndarray, Xjs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, Xjt: np.ndarray,
                   yt: np.ndarray, text: np.ndarray | None, seed: int) -> tuple[dict[str, float], str, np.ndarray | None]:
    """Held-out AP of deployed / zero_shot / trained / combined trained on one labelled set
    (``Xs``/``Xjs`` training/joint head of the labelled shots, ``Xt``/``Xjt`` of the test set)
    → (APs, deployed kind, deployed test scores). Without a prompt only deployed and trained."""
    model = _fit_or_none(Xs, ys, text, seed, tune=True, X_joint=Xjs)
    dep = None if model is None else model.decision(Xjt if model.kind in JOINT_KINDS else Xt)
    aps = {"deployed": _ap(yt, dep)}
    trained = _fit_or_none(Xs, ys, None, seed, tune=True)
    aps["trained"] = _ap(yt, None if trained is None else trained.decision(Xt))
    if text is not None:
        aps["zero_shot"] = _ap(yt, Xjt @ text)
        comb = _combined_only(Xjs, ys, text, seed, tune=True)
        aps["combined"] = _ap(yt, None if comb is None else comb.decision(Xjt))
    return aps, ("none" if model is None else model.kind), dep


def active_order(Xp: np.ndarray, yp: np.ndarray, text: np.ndarray | None, budget: int,
                 cfg: ActiveConfig, seed: int, Xjp: np.ndarray | None = None) -> list[int]:
    """Simulate our loop with an oracle: pool indices in the order they get labelled
    (``Xjp``: the pool on the joint head when ``Xp`` is the training head)."""
    Xjp = Xp if Xjp is None else Xjp
    ids = np.array([str(i) for i in range(len(Xp))], dtype=object)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < min(budget, len(Xp)):
        lab = np.array(order, dtype=int)
        model = _fit_or_none(Xp[lab], yp[lab], text, seed, tune=False, X_joint=Xjp[lab])  # fast fits between rounds
        labelled = {str(i) for i in order}
        if model is None:  # no prompt, no labels: only random is possible
            rest = np.setdiff1d(np.arange(len(Xp)), lab)
            batch = [int(i) for i in rng.permutation(rest)[: cfg.round_size]]
        else:
            head = Xjp if model.kind in JOINT_KINDS else Xp
            table = score_chunks(model, iter_chunks(ids, head), n=cfg.round_size, exclude=labelled,
                                 seed=seed + len(order))
            n_pos = int(yp[lab].sum())
            batch = [int(s) for s in next_batch(model, table, labelled, n_pos, len(order) - n_pos, cfg)]
        if not batch:
            break
        order.extend(batch)
    return order[:budget]


def strategy_orders(Xp: np.ndarray, yp: np.ndarray, text: np.ndarray | None, budget: int,
                    cfg: ActiveConfig, seed: int, Xjp: np.ndarray | None = None) -> dict[str, list[int] | None]:
    Xjp = Xp if Xjp is None else Xjp
    rng = np.random.default_rng(seed)
    rand = rng.permutation(len(Xp))
    orders: dict[str, list[int] | None] = {"random": list(rand[:budget])}
    if text is None:
        orders["zero_shot"] = orders["mix"] = None
    else:
        zs = np.argsort(-(Xjp @ text), kind="stable")
        orders["zero_shot"] = list(zs[:budget])
        mix: list[int] = []
        seen: set[int] = set()
        for a, b in zip(zs, rand):  # alternate prompt top-k and random, skipping repeats
            for i in (int(a), int(b)):
                if i not in seen and len(mix) < budget:
                    mix.append(i)
                    seen.add(i)
        orders["mix"] = mix
    orders["ours"] = active_order(Xp, yp, text, budget, cfg, seed, Xjp)
    return orders


def split(task: Task, seed: int, test_size: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """Stratified pool/test split; with ``task.groups`` no group straddles it (StratifiedGroupKFold,
    one fold of round(1/test_size) as the test set)."""
    idx = np.arange(len(task.y))
    if task.groups is None:
        return tuple(train_test_split(idx, test_size=test_size, stratify=task.y, random_state=seed))  # type: ignore[return-value]
    k = max(2, round(1 / test_size))
    pool, test = next(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, task.y, task.groups))
    return pool, test


def run_task(task: Task, budgets: tuple[int, ...], seeds: int, cfg: ActiveConfig,
             test_size: float = 1 / 3, seed_offset: int = 0,
             comparisons: list[Comparison] | None = None,
             compare: tuple[str, ...] = STRATEGIES) -> dict[str, dict[int, Cell]]:
    """Per strategy and budget the deployed model's test AP; with ``comparisons`` every labelled
    set of the ``compare`` strategies also appends a ``Comparison`` (all four models)."""
    cells: dict[str, dict[int, Cell]] = {s: {} for s in STRATEGIES}
    Xj_all = task.X if task.X_joint is None else task.X_joint
    for seed in range(seed_offset, seed_offset + seeds):
        pool, test = split(task, seed, test_size)
        text = task.text
        if text is None and task.prompt_size > 0:  # prompt set: a few positives leave the pool
            rng = np.random.default_rng(1000 + seed)
            prompt = rng.choice(pool[task.y[pool]], size=task.prompt_size, replace=False)
            pool = np.setdiff1d(pool, prompt)
            text = Xj_all[prompt].mean(axis=0)
            text = text / np.linalg.norm(text)
        Xp, Xjp, yp = task.X[pool], Xj_all[pool], task.y[pool]
        Xt, Xjt, yt = task.X[test], Xj_all[test], task.y[test]
        usable = [b for b in budgets if b <= len(pool)]  # a budget above the pool size is skipped
        if not usable:
            continue
        orders = strategy_orders(Xp, yp, text, max(usable), cfg, seed, Xjp)
        for strat, order in orders.items():
            if order is None:
                continue
            for b in usable:
                sel = np.asarray(order[:b], dtype=int)
                if comparisons is not None and strat in compare:
                    aps, chosen, scores = compare_models(Xp[sel], Xjp[sel], yp[sel], Xt, Xjt, yt, text, seed)
                    comparisons.append(Comparison(task.name, seed, strat, b, int(yp[sel].sum()), aps, chosen))
                    ap = aps["deployed"]
                else:
                    model = _fit_or_none(Xp[sel], yp[sel], text, seed, tune=True, X_joint=Xjp[sel])
                    scores = None if model is None else model.decision(Xjt if model.kind in JOINT_KINDS else Xt)
                    ap = _ap(yt, scores)
                cell = cells[strat].setdefault(b, Cell())
                cell.aps.append(ap)
                cell.tests.append((yt, scores))
    return cells


def compare_summary(comparisons: list[Comparison], eps: float = 1e-9) -> dict:
    """Per strategy and budget: mean over tasks (of per-task means over seeds) of each model's AP;
    tasks whose mean deployed AP < zero-shot's and the worst such gap; labelled sets (task × seed)
    where deployed < zero-shot, their count, mean and worst shortfall; what was deployed."""
    out: dict = {}
    keys = sorted({(c.strategy, c.budget) for c in comparisons}, key=lambda k: (STRATEGIES.index(k[0]), k[1]))
    for strat, b in keys:
        rows = [c for c in comparisons if c.strategy == strat and c.budget == b]
        tasks = sorted({c.task for c in rows})
        per_task = {t: {m: float(np.mean([c.ap[m] for c in rows if c.task == t]))
                        for m in MODELS if all(m in c.ap for c in rows if c.task == t)} for t in tasks}
        doc: dict = {"tasks": len(tasks), "sets": len(rows), "mean_positives": float(np.mean([c.n_pos for c in rows]))}
        for m in MODELS:
            vals = [v[m] for v in per_task.values() if m in v]
            doc[m] = float(np.mean(vals)) if vals else None
        with_zs = [c for c in rows if "zero_shot" in c.ap]
        gaps = [c.ap["zero_shot"] - c.ap["deployed"] for c in with_zs]
        below = [g for g in gaps if g > eps]
        task_gaps = [v["zero_shot"] - v["deployed"] for v in per_task.values() if "zero_shot" in v]
        doc["tasks_deployed_below_zero_shot"] = sum(g > eps for g in task_gaps)
        doc["worst_task_gap"] = float(max(task_gaps)) if task_gaps and max(task_gaps) > eps else 0.0
        doc["sets_with_zero_shot"] = len(with_zs)
        doc["sets_deployed_below_zero_shot"] = len(below)
        doc["mean_shortfall"] = float(np.mean(below)) if below else 0.0
        doc["worst_shortfall"] = float(max(below)) if below else 0.0
        doc["chosen"] = {k: sum(c.chosen == k for c in rows) for k in ("zero_shot", "combined", "linear", "none")}
        out.setdefault(strat, {})[str(b)] = doc
    return out


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


def print_report(results: dict[str, dict[str, dict[int, Cell]]], summary: dict, budgets: tuple[int, ...],
                 comparison: dict | None = None, title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
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
    for strat, per_budget in (comparison or {}).items():
        t = Table(title=f"{title}never worse than search? labelled sets of '{strat}': held-out AP, mean over tasks")
        for col in ("budget", "positives", *MODELS, "tasks dep<zs (worst gap)", "sets dep<zs (mean/worst)", "chosen zs/comb/lin"):
            t.add_column(col, justify="right")
        for b, d in per_budget.items():
            f = [("n/a" if d[m] is None else f"{d[m]:.3f}") for m in MODELS]
            ch = d["chosen"]
            t.add_row(b, f"{d['mean_positives']:.1f}", *f,
                      f"{d['tasks_deployed_below_zero_shot']}/{d['tasks']} ({d['worst_task_gap']:.3f})",
                      f"{d['sets_deployed_below_zero_shot']}/{d['sets_with_zero_shot']} "
                      f"({d['mean_shortfall']:.3f}/{d['worst_shortfall']:.3f})",
                      f"{ch['zero_shot']}/{ch['combined']}/{ch['linear']}")
        console.print(t)


def load_tasks(dataset: str, prompt_size: int) -> dict[str, list[Task]]:
    """``dataset``: comma-separated names among digits, breast_cancer, footage (all = every one)."""
    names = ("digits", "breast_cancer", "footage") if dataset == "all" else tuple(dataset.split(","))
    out: dict[str, list[Task]] = {}
    for name in names:
        if name == "digits":
            out[name] = digits_tasks(prompt_size)
        elif name == "breast_cancer":
            out[name] = breast_cancer_tasks(prompt_size)
        elif name == "footage":
            from research.footage_al_set import footage_npz

            out[name] = npz_tasks(footage_npz(), 0)
        else:
            raise SystemExit(f"unknown dataset {name!r}: digits, breast_cancer, footage or all")
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m research.eval_al", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits",
                    help="comma-separated: digits, breast_cancer, footage (real keyframes/stills labelled by us, "
                         "real text prompts; research/footage_al_set.py), or all")
    ap.add_argument("--npz", type=Path, help="labelled embedding set (overrides --dataset)")
    ap.add_argument("--budgets", type=lambda s: tuple(int(x) for x in s.split(",")), default=BUDGETS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--prompt-size", type=int, default=5)
    ap.add_argument("--round-size", type=int, default=ActiveConfig.round_size)
    ap.add_argument("--tasks", type=int, default=0, help="only the first N tasks of each dataset (0 = all)")
    ap.add_argument("--seed-offset", type=int, default=0, help="tune on other splits than you report")
    ap.add_argument("--mix", type=lambda s: dict(kv.split("=") for kv in s.split(",")), default={},
                    help="override ActiveConfig fields, e.g. borderline=0.5,late_random=0.1")
    ap.add_argument("--compare", default="random,ours",
                    help="strategies whose labelled sets also fit zero-shot / trained / combined alone "
                         "('' = none, 'all')")
    ap.add_argument("--json", type=Path, help="also write the summary and per-task means here")
    args = ap.parse_args(argv)

    if args.npz:
        datasets = {args.npz.stem: npz_tasks(args.npz, args.prompt_size)}
    else:
        datasets = load_tasks(args.dataset, args.prompt_size)
    if args.tasks:
        datasets = {k: v[: args.tasks] for k, v in datasets.items()}
    compare = STRATEGIES if args.compare == "all" else tuple(s for s in args.compare.split(",") if s)
    cfg = ActiveConfig(round_size=args.round_size,
                       **{k: (int if k == "late_after" else float)(v) for k, v in args.mix.items()})
    t0 = time.perf_counter()
    results: dict[str, dict[str, dict[int, Cell]]] = {}
    comparisons: dict[str, list[Comparison]] = {}
    for ds, tasks in datasets.items():
        comparisons[ds] = []
        for task in tasks:
            results[task.name] = run_task(task, args.budgets, args.seeds, cfg, seed_offset=args.seed_offset,
                                          comparisons=comparisons[ds], compare=compare)
    summary = summarise(results, args.budgets)
    models = {ds: compare_summary(c) for ds, c in comparisons.items() if c}
    print_report(results, summary, args.budgets)
    for ds, comp in models.items():
        print_report({}, {}, args.budgets, comp, title=f"{ds}: ")
    n_tasks = sum(len(v) for v in datasets.values())
    print(f"{n_tasks} tasks × {args.seeds} seeds in {time.perf_counter() - t0:.1f}s")
    doc = {
        "summary": {str(b): v for b, v in summary.items()},
        "tasks": {n: {s: {str(b): c.mean() for b, c in cells[s].items()} for s in STRATEGIES}
                  for n, cells in results.items()},
        "models": models,
        "sets": {ds: [asdict(c) for c in comp] for ds, comp in comparisons.items()},
        "config": {"datasets": list(datasets), "budgets": list(args.budgets), "seeds": args.seeds,
                   "seed_offset": args.seed_offset, "prompt_size": args.prompt_size, "compare": list(compare)},
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
