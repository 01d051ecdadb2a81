"""Training: settle the hyper-parameters, run the loop, write the run folder.

`run` trains one run from start to finish (`train`, `TrainConfig`); `settings` holds every
hyper-parameter; `loop`, `steps`, `augment`, `budget` and `distributed` are its parts;
`sweep` searches over runs. Nothing after training imports this package: evaluation and
prediction read the run folder (`mnistlab.runs`).
"""
