"""The sample sessions, installed with rt as the package `recorder.samples` (pyproject.toml maps
this folder there), so that `rt demo` finds them after a plain `pip install`, from anywhere."""
