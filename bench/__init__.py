"""The benchmarks: run each from the repository root as ``python -m bench.NAME``.

Each script writes its figures as data to ``bench/results/NAME.json`` (numbers, units,
the machine, the command and the git commit it ran at); ``python -m bench.render_performance``
formats them into the generated blocks of docs/performance.md, docs/node.md, the README and
the model cards.
"""
