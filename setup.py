"""The native JSON-to-Arrow decoder, an optional C extension.

Without a C compiler cascade-rt still installs and runs: ``cascade_rt.batch`` then decodes with
msgspec alone (``cascade_rt.batch.NATIVE`` tells which).
"""

import os

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cascade_rt.batch._native",
            ["cascade_rt/batch/_native.c"],
            optional=True,
            extra_compile_args=[] if os.name == "nt" else ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
