"""Command line: ``replication <step>`` (or ``python -m replication <step>``).

Each step reads the files the one before it wrote. Problems with the input print one
message and exit with code 2; there is no traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import pipeline
from .errors import ReplicationError
from .outputs import markdown_table
from .report import execute_notebooks, record_timing, verify, write_report
from .spec import load_study


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", default="golovacheva2022",
                   help="a shipped study id or a path to a study YAML (default: %(default)s)")
    p.add_argument("--root", type=Path, default=Path("."),
                   help="project folder holding data/ and reports/ (default: current folder)")


#: The steps in pipeline order: name, one-line help, longer description.
COMMANDS = [
    ("generate", "simulate the survey into data/raw/",
     "Simulate the synthetic survey into data/raw/ (survey.csv, codebook.csv, truth.json). "
     "Existing raw data is never overwritten unless --force is given."),
    ("score", "scale scores and reliability from the raw survey",
     "Validate data/raw/survey.csv against its codebook, write scale scores to "
     "data/processed/scores.csv and Cronbach's alpha to reports/tables/reliability.csv."),
    ("cluster", "two-stage cluster analysis: segments, tables, figures",
     "Ward's hierarchical clustering of the standardized needs, k-means from the Ward centroids, "
     "naming by the reported profiles. Writes data/processed/segments.csv, reports/tables/ and "
     "reports/figures/."),
    ("logit", "multinomial logit of segment membership",
     "Multinomial logit of the recovered segment on the five consumer characteristics; tables "
     "and figures in reports/."),
    ("recovery", "compare results with the generating truth (simulation only)",
     "Adjusted Rand index, confusion matrix and logit coefficient recovery against "
     "data/raw/truth.json."),
    ("check", "the scorecard of reported claims; exit 1 if any fails",
     "Evaluate every claim in the study specification against the result tables; write "
     "reports/tables/scorecard.csv; exit 1 when any claim fails."),
    ("notebooks", "execute the notebooks and render them to reports/notebooks/",
     "Execute notebooks/*.ipynb against the project's data and render each to "
     "reports/notebooks/<name>.html."),
    ("report", "write reports/index.html and reports/manifest.json",
     "Render the self-contained report page and the manifest of checksums, versions and timings."),
    ("verify", "regenerate into a temporary folder and compare checksums",
     "Regenerate data, tables and figures into a temporary folder and compare their SHA-256 with "
     "reports/manifest.json; exit 1 naming every file that differs."),
    ("outputs", "print the table of outputs and the code that makes them",
     "Print, as Markdown, every output with the command, library function and notebook that make "
     "it (the README's table)."),
    ("validate", "check a study specification and the raw survey",
     "Load the study specification and the raw survey; report the first problem found, or say "
     "that both are valid."),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replication",
        description="Replication of Golovacheva et al. (2022): synthetic survey, two-stage "
                    "cluster analysis, multinomial logit, and the report.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cmd = {}
    for name, short, long in COMMANDS:
        cmd[name] = sub.add_parser(name, help=short, description=long)
        _common(cmd[name])

    g = cmd["generate"]
    g.add_argument("--n", type=int, default=None, help="sample size (default: the study's N)")
    g.add_argument("--separation", type=float, default=None,
                   help="High-Low distance of the needs in within-segment SDs (default: the study's)")
    g.add_argument("--seed", type=int, default=None, help="random seed (default: the study's)")
    g.add_argument("--force", action="store_true", help="overwrite existing raw data")
    cmd["logit"].add_argument("--raw-scale", action="store_true",
                              help="coefficients per scale point instead of per SD")
    cmd["check"].add_argument("--exit-zero", action="store_true",
                              help="write the scorecard and exit 0 even if claims fail (for `make report`)")
    cmd["notebooks"].add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    return parser


def run(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "outputs":
        print(markdown_table())
        return 0
    spec = load_study(args.study)
    layout = pipeline.Layout(args.root)
    start = time.perf_counter()
    code = _dispatch(args, spec, layout)
    if args.command not in ("validate", "notebooks", "verify"):
        record_timing(layout, args.command, time.perf_counter() - start)
    return code


def _dispatch(args, spec, layout) -> int:
    if args.command == "generate":
        if args.force and any(p.exists() for p in (layout.survey, layout.codebook, layout.truth, layout.generation)):
            print(f"overwriting the raw data in {layout.raw} (--force)", file=sys.stderr)
        written = pipeline.generate(spec, layout, n=args.n, separation=args.separation,
                                    seed=args.seed, force=args.force)
    elif args.command == "score":
        written = pipeline.score(spec, layout)
    elif args.command == "cluster":
        written = pipeline.cluster(spec, layout)
    elif args.command == "logit":
        written = pipeline.logit(spec, layout, standardize=False if args.raw_scale else None)
    elif args.command == "recovery":
        written = pipeline.recovery(spec, layout)
    elif args.command == "check":
        written, card = pipeline.check(spec, layout)
        for p in written:
            print(f"wrote {p}")
        failed = card[~card["passed"]]
        print(f"{len(card) - len(failed)} of {len(card)} claims pass")
        for _, row in failed.iterrows():
            print(f"FAIL {row['claim']}: reported {row['reported_value']}, replicated "
                  f"{row['replicated_value']} (tolerance {row['tolerance']})")
        return 1 if len(failed) and not args.exit_zero else 0
    elif args.command == "notebooks":
        written = execute_notebooks(layout, args.names or None)
    elif args.command == "report":
        written = write_report(spec, layout)
    elif args.command == "verify":
        problems = verify(spec, layout)
        for line in problems:
            print(f"DIFFERS {line}")
        print("verify: all regenerated files match the manifest" if not problems
              else f"verify: {len(problems)} file(s) differ from the manifest")
        return 1 if problems else 0
    elif args.command == "validate":
        survey = pipeline.load_survey(layout)
        pipeline.check_survey_matches(spec, survey, layout.survey)
        print(f"{args.study}: specification valid; {layout.survey}: {len(survey)} respondents valid")
        return 0
    for p in written:
        print(f"wrote {p}")
    return 0


def main(argv=None) -> None:
    try:
        code = run(argv)
    except ReplicationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; files already written are complete (writes are atomic)", file=sys.stderr)
        code = 130
    sys.exit(code)
