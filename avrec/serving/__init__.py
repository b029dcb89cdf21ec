"""The request path of `recommend` (and of `explain` and `report`, which load the same model).

* `served` -- the active model loaded with its id maps, and users looked up in blocks (`user_batch`).
* `uservectors` -- user vectors `fit` stores, so a known user is served without loading the model.
* `index` -- the Annoy index (`open_index`: the one place that decides whether to use it).
* `ranking` -- one recommendation row, and the one top-k selection every path (and Spark) uses.
* `blocks` -- fixed-size blocks out of a stream of users.

Kept light: importing this package imports nothing; the fast path (`uservectors`, `index`, `ranking`)
needs numpy only.
"""
