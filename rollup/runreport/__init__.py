"""
A run's HTML report (``rollup report``, ``rollup apply --report``): one self-contained file.

``build`` gathers the typed model (``model``) from a run directory, ``verifydoc`` reads a
``rollup verify --json`` document into its host x check matrix, and ``render`` turns the model
into HTML with the Jinja2 template shipped in ``templates/`` (autoescaping on: host answers are
untrusted). docs/report.md is the operator's reference.
"""
