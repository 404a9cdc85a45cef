"""
A PowerShell 2.0 interpreter for the simulated lab: it runs the very scripts rollup sends to
Windows hosts against a model of the host (``rollup.lab.windows``). See docs/lab.md for what it
implements and how it differs from Windows PowerShell 2.0.
"""
