import numpy as np

from research.eval_al import digits_tasks, main
from shotline.learning.active import ActiveConfig, next_batch, round_mix
from shotline.learning.classifier import train_linear, zero_shot_model
from shotline.learning.scoring import iter_chunks, score_chunks


def test_round_mix_sums_to_round_size():
    cfg = ActiveConfig(round_size=25)
    lin = train_linear(np.eye(6, dtype=np.float32), np.array([1, 1, 0, 0, 0, 0]))
    zs = zero_shot_model(np.ones(6))
    for model, n_pos, n_neg in [(zs, 0, 0), (lin, 2, 4), (lin, 40, 60)]:
        assert sum(round_mix(model, n_pos, n_neg, cfg).values()) == 25
    assert round_mix(zs, 0, 0, cfg)["top_positive"] > round_mix(zs, 0, 0, cfg)["random"]
    # scarce positives get more top-positive shots than plentiful ones
    assert round_mix(lin, 2, 98, cfg)["top_positive"] > round_mix(lin, 50, 50, cfg)["top_positive"]


def test_next_batch_is_full_unlabelled_and_unique():
    task = digits_tasks()[5]
    ids = np.array([str(i) for i in range(len(task.y))], dtype=object)
    labelled = set(ids[:60])
    model = train_linear(task.X[:60], task.y[:60].astype(int))
    cfg = ActiveConfig(round_size=25)
    table = score_chunks(model, iter_chunks(ids, task.X), n=25, exclude=labelled)
    batch = next_batch(model, table, labelled, int(task.y[:60].sum()), 60 - int(task.y[:60].sum()), cfg)
    assert len(batch) == len(set(batch)) == 25 and not set(batch) & labelled
    # the round is mostly informative: borderline or likely-positive shots, not random noise
    assert sum(task.y[int(i)] for i in batch) >= 5  # far above the 10% base rate


def test_eval_harness_small_budget(tmp_path):
    doc = main(["--seeds", "1", "--tasks", "2", "--budgets", "25,50", "--json", str(tmp_path / "r.json")])
    assert set(doc["summary"]) == {"25", "50"}
    for task in doc["tasks"].values():
        for strat in ("random", "zero_shot", "mix", "ours"):
            assert 0.0 < task[strat]["50"] <= 1.0
    assert (tmp_path / "r.json").exists()


def test_eval_harness_on_npz(tmp_path):
    task = digits_tasks()[4]
    Y = np.stack([task.y, digits_tasks()[9].y], axis=1)
    text = np.stack([task.X[task.y][:5].mean(0), np.zeros(64)])  # task 2 has no prompt
    np.savez(tmp_path / "set.npz", X=task.X, Y=Y, names=np.array(["four", "nine"]), text=text)
    doc = main(["--npz", str(tmp_path / "set.npz"), "--seeds", "1", "--budgets", "25,50", "--prompt-size", "0"])
    assert set(doc["tasks"]) == {"four", "nine"}
    assert doc["tasks"]["four"]["zero_shot"]["25"] > 0.5
    assert doc["tasks"]["nine"]["zero_shot"] == {}  # no prompt → strategy unavailable
