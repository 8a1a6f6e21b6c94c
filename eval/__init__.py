"""Evaluation: score any ``gem_core`` backend the way the GEM paper and ECG-Bench do (bugs fixed).

Modules, in the order data flows: ``sets`` (questions and gold answers), ``run`` (ask a backend,
resumable answers), ``metrics`` (classification, multiple choice, bootstrap), ``judge`` (LLM judges
and their aggregation), ``score`` (all scores of a run, human table), ``report`` (report.md, plots),
``compare`` (runs side by side). Command line: ``python -m eval --help``.
"""
