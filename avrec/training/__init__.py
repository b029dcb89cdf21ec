"""Everything `fit` and `evaluate` do on top of the models in `avrec.model`.

* `fit` -- train a model on what the store holds, save it with its index and user vectors, make it active;
  `update` (`fit --incremental`).
* `dataset` -- from the store to `TrainData` (id maps, sparse matrices, content, user features).
* `userfeatures` -- user attributes as one-hot features, the encoding learnt at fit time.
* `evaluate` -- offline metrics on a split of the store's data, and `fit --holdout`.
"""
