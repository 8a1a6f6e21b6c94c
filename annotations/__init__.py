"""The ratings store: raters, cases, interpretations, ratings, preferences, campaigns, exports.

Modules: ``store`` (the service API, ``Store``), ``models`` (tables), ``db`` (engines, migrations),
``metrics`` (the seven 1-5 metrics and their anchors), ``campaigns`` (campaign files), ``exports``
(DPO/KTO/CSV/datasets), ``summary`` (tables and agreement). Command line: ``python -m annotations``.
"""
