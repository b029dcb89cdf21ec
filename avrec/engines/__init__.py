"""Optional scale-out engines behind the same model interface.

`avrec.engines.spark` runs the collaborative factorization (`fit --engine spark`) and batch recommendation
(`recommend --all-users --engine spark --output DIR`) on Apache Spark. The result of a Spark fit is an
ordinary avrec model file, so `recommend`, `explain` and everything else work on it unchanged.

Engines import their heavy dependencies (pyspark) only when used: `import avrec` never needs them.
"""
