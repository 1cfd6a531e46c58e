"""The ``demem`` command line.

``demem traces --input PATTERN [--top N] [--json]``: survey de-identification
traces without writing anything (``pipelines.survey``).

``demem audit --manifest FILE --model PATH [--json] [--plot PNG]``: exposure of
a trained model to the canaries of a run (``sanitize.audit``).

``demem run --input PATTERN [--input PATTERN ...] --output DIR [--config FILE]
[--overwrite] [any Beam pipeline option]``: options demem does not know are
handed to Beam untouched (``--runner DataflowRunner``, ``--direct_num_workers``,
``--project`` …). Without ``--runner`` the run is embedded (FnApiRunner).

Exit status: 0 success; 2 bad usage or config; 3 unreadable input or output
directory; 4 accounting violated; 1 the pipeline itself failed. Failures print
one line, ``demem: error: <reason>``, on stderr.
"""
from __future__ import annotations

import argparse
import logging
import sys

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INPUT, EXIT_ACCOUNTING = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="demem", description="Prepare training corpora that models do not memorize.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run the pipeline", description="Run the pipeline. Unknown options go to Apache Beam.",
    )
    run.add_argument("--input", action="append", required=True, metavar="PATTERN",
                     help="file path, glob or Beam filesystem URI (repeatable)")
    run.add_argument("--output", required=True, metavar="DIR", help="output directory (local or Beam URI)")
    run.add_argument("--config", metavar="FILE", help="YAML config; defaults: pipelines/default.yaml")
    run.add_argument("--overwrite", action="store_true", help="replace a previous run's output in DIR")
    run.add_argument("--quiet", action="store_true", help="no progress logging")
    run.add_argument("--canary-manifest", metavar="FILE",
                     help="where the secret canary manifest goes (default DIR/canaries/manifest.jsonl)")
    audit = commands.add_parser(
        "audit", help="measure a trained model's exposure to the planted canaries",
        description="Score every canary against its held-out references with a local causal LM.",
    )
    audit.add_argument("--manifest", required=True, metavar="FILE", help="the canary manifest of the run")
    audit.add_argument("--model", required=True, metavar="PATH", help="a local Hugging Face model directory")
    audit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    audit.add_argument("--plot", metavar="PNG", help="also plot exposure against replication rate")
    audit.add_argument("--device", help="torch device, e.g. cpu or cuda")
    traces = commands.add_parser(
        "traces", help="survey a corpus for de-identification traces (writes nothing)",
        description="Count de-identification markers per family, with document and token shares.",
    )
    traces.add_argument("--input", action="append", required=True, metavar="PATTERN")
    traces.add_argument("--config", metavar="FILE", help="YAML config (its input and traces sections are used)")
    traces.add_argument("--top", type=int, default=5, metavar="N", help="marker forms shown per family")
    traces.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands.add_parser("default-config", help="print the documented default config")
    return parser


def _fail(code: int, message: str) -> int:
    print(f"demem: error: {message}", file=sys.stderr)
    return code


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for name in ("pipelines", "dedup", "sanitize"):
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.INFO)


def _run(args, beam_args: list[str]) -> int:
    from pipelines.config import ConfigError, load_config
    from pipelines.pipeline import AccountingError, OutputDirError, run
    from pipelines.report import format_summary

    try:
        config = load_config(args.config)
    except ConfigError as err:
        return _fail(EXIT_CONFIG, str(err))
    _configure_logging(args.quiet)
    try:
        result = run(args.input, args.output, config, beam_args, overwrite=args.overwrite,
                     canary_manifest=args.canary_manifest)
    except (FileNotFoundError, OutputDirError) as err:
        return _fail(EXIT_INPUT, str(err))
    except AccountingError as err:
        return _fail(EXIT_ACCOUNTING, str(err))
    except Exception as err:  # a failed pipeline: one line here, the traceback in the log above
        logging.getLogger("pipelines").debug("pipeline failed", exc_info=True)
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        return _fail(EXIT_FAILED, f"pipeline failed: {type(err).__name__}: {first_line}")
    print(format_summary(result.report, args.output))
    return EXIT_OK


def _traces(args) -> int:
    from pipelines.config import ConfigError, load_config
    from pipelines.survey import format_survey, survey, survey_json

    try:
        config = load_config(args.config)
    except ConfigError as err:
        return _fail(EXIT_CONFIG, str(err))
    try:
        result = survey(args.input, config.traces, config.input, top=args.top)
    except FileNotFoundError as err:
        return _fail(EXIT_INPUT, str(err))
    print(survey_json(result) if args.json else format_survey(result))
    return EXIT_OK


def _audit(args) -> int:
    from sanitize.audit import AuditError, audit_command

    try:
        audit_command(args.manifest, args.model, as_json=args.json, plot=args.plot, device=args.device)
    except AuditError as err:
        return _fail(EXIT_CONFIG, str(err))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args, beam_args = _parser().parse_known_args(argv)
    if args.command == "default-config":
        from pipelines.config import default_config_text

        print(default_config_text(), end="")
        return EXIT_OK
    if args.command == "run":
        return _run(args, beam_args)
    if args.command == "traces":
        return _traces(args)
    if args.command == "audit":
        return _audit(args)
    return _fail(EXIT_CONFIG, f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
