"""The one compiled part: keyed fakes' per-value work (rehearse/anonymize/_fast.c).

Optional: where it cannot be built (no C compiler), rehearse makes the same values with pandas
and numpy, only slower. Everything else is declared in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rehearse.anonymize._fast", ["rehearse/anonymize/_fast.c"],
                             extra_compile_args=["-O2"], optional=True)])
