"""Time to quality: automl against a hand-written Optuna script, KerasTuner and the lesson's grid.

Every arm searches the same space (workload.SPACE) on the same split of the same data set for a
seed, for at most EPOCHS epochs a trial, and runs in a fresh process so each pays its own
interpreter start and imports, as a user does. Per arm and seed it records the best validation
accuracy, the test accuracy of the best model, wall-clock seconds, epochs trained and trials run;
the record `benchmarks/results/compare.json` holds them all and the tables made from them.

The data set is scikit-learn's digits unless `--dataset` names a Keras one (mnist,
fashion_mnist, cifar10, cifar100) whose files are in the Keras cache (nothing is downloaded):
the arms then train on automl's split of its training images (a stratified `--max-samples`
subset of them, or all) and are tested on its own test split.

    python -m benchmarks.compare                     # the six core arms; seeds 0 1 2
    python -m benchmarks.compare --arms kt-random grid   # the two long arms, seeds 0 1 2
    python -m benchmarks.compare --dataset fashion_mnist --max-samples 6000
    python -m benchmarks.compare --table             # the tables from the record

Arms:
  automl        `automl run` (TPE + Hyperband, MLflow tracking on), timed as a whole command;
                the best model is retrained from its trial's hyperparameters and seed to score
                it on the benchmark's test images, off the clock (the model automl keeps is
                in a temporary MLflow store gone with the arm's folder).
  automl-sha    the same with successive halving (rungs at 1, 3, 9 epochs).
  automl-2w     automl with `--workers 2` (and -2w-sha): a 2-core machine's user runs it so.
  optuna        a hand-written script: TPE + HyperbandPruner + a pruning callback, `model.fit`
                on the arrays, one process, in-memory storage, no tracking.
  kt-hyperband  KerasTuner Hyperband (max_epochs EPOCHS, factor 3, one iteration).
  kt-random     KerasTuner RandomSearch, TRIALS trials of EPOCHS epochs.
  grid          the lesson's exhaustive grid, every cell EPOCHS epochs, no pruning.
"""

from benchmarks.compare.arms import ARMS, automl_study, grid_cells
from benchmarks.compare.record import curve
from benchmarks.compare.run import main
from benchmarks.compare.tables import epochs_to_reach, table

__all__ = ["ARMS", "automl_study", "curve", "epochs_to_reach", "grid_cells", "main", "table"]
