"""Command line: ``replication <command>`` (or ``python -m replication <command>``).

``replication run`` does the whole pipeline for one or more studies in one process. The
step commands (listed in :data:`replication.outputs.STEPS`) run the same in-memory
analysis and write their own outputs. Problems with the input print one message and exit
with code 2; there is no traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import pipeline
from .errors import ReplicationError
from .outputs import STEPS, markdown_table
from .study.spec import load_study, shipped_studies

#: Commands beyond the pipeline's steps: name, one-line help, description.
META = [
    ("run", "the whole pipeline for one or more studies, in one process",
     "Generate the raw data if missing (never overwriting), analyse, write every output, execute "
     "the notebooks, and write each study page, its manifest and the landing page. Without "
     "--study, every shipped study."),
    ("verify", "regenerate into a temporary folder and compare checksums with the manifest",
     "Regenerate data, tables and figures into a temporary folder and compare their SHA-256 with "
     "reports/<study>/manifest.json; exit 1 naming every file that differs."),
    ("outputs", "print the table of outputs and the code that makes them",
     "Print, as Markdown, every output with the command, library function and notebook that make it."),
    ("init", "write a commented study template for your own survey file (CSV or SPSS .sav)",
     "Read the header (and, for .sav, the variable and value labels) of a survey file and write a "
     "commented study specification beside it, with a data: block pointing at the file and a TODO "
     "wherever you must fill something in. Never overwrites an existing file without --force."),
    ("classify", "assign new respondents to the segments of a model card",
     "Read new respondents (CSV or .sav), score them with the model card's items and standardisation, "
     "and write each one's segment, the distance behind it, the membership probabilities where the "
     "card has a membership model, and the segment's strategy."),
    ("validate", "check a study specification and its raw survey",
     "Load the study specification and the raw survey; report the first problem, or that both are valid."),
]


#: Commands whose arguments are not the common --study/--root.
OWN_ARGUMENTS = ("outputs", "init", "classify")


def _common(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("--study", action="append", default=None,
                       help="a shipped study id or a path to a study YAML; repeat for several "
                            f"(default: every shipped study: {', '.join(shipped_studies())})")
    else:
        p.add_argument("--study", default="golovacheva2022",
                       help="a shipped study id or a path to a study YAML (default: %(default)s)")
    p.add_argument("--root", type=Path, default=Path("."),
                   help="project folder holding data/ and reports/ (default: current folder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replication",
        description="Replication of published market-segmentation studies: synthetic or real survey, "
                    "segmentation, membership model, claims, and the report.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cmd = {}
    for name, short, long in [(s.name, s.help, s.description) for s in STEPS] + META:
        cmd[name] = sub.add_parser(name, help=short, description=long)
        if name not in OWN_ARGUMENTS:
            _common(cmd[name], many=name in ("run", "verify"))
    g = cmd["generate"]
    g.add_argument("--n", type=int, default=None, help="sample size (default: the study's N)")
    g.add_argument("--separation", type=float, default=None,
                   help="High-Low distance of the segmentation dimensions in within-segment SDs "
                        "(default: the study's)")
    g.add_argument("--seed", type=int, default=None, help="random seed (default: the study's)")
    g.add_argument("--force", action="store_true", help="overwrite existing raw data")
    cmd["check"].add_argument("--exit-zero", action="store_true",
                              help="write the scorecard and exit 0 even if claims fail")
    cmd["notebooks"].add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    for name, default_r in (("controls", 100), ("curve", 200)):
        c = cmd[name]
        c.add_argument("--seeds", type=int, default=default_r, help="replicates per scenario (default: %(default)s)")
        c.add_argument("--jobs", type=int, default=2, help="parallel workers (default: %(default)s)")
        c.add_argument("--backend", choices=["loky", "dask"], default="loky",
                       help="loky: processes on this machine; dask: a dask.distributed cluster (default: %(default)s)")
    cmd["controls"].add_argument("--scenario", action="append", type=Path, default=None,
                                 help="a scenario YAML (repeatable; default: every shipped scenario of the study)")
    cmd["curve"].add_argument("--separations", type=float, nargs="+", default=[0, 1, 2, 3, 4, 5, 6],
                              help="separations to simulate (default: %(default)s)")
    cmd["run"].add_argument("--no-notebooks", action="store_true", help="skip executing the notebooks")
    i = cmd["init"]
    i.add_argument("file", type=Path, help="your survey file (.csv or .sav)")
    i.add_argument("--output", type=Path, default=None, help="the YAML to write (default: beside the file)")
    i.add_argument("--force", action="store_true", help="overwrite an existing YAML")
    i.add_argument("--encoding", default=None, help="the CSV's text encoding (default: UTF-8)")
    i.add_argument("--delimiter", default=None, help="the CSV's delimiter (default: comma)")
    c = cmd["classify"]
    c.add_argument("card", type=Path, help="a model card (data/processed/<study>/model_card.json)")
    c.add_argument("file", type=Path, help="new respondents (.csv or .sav)")
    c.add_argument("--output", type=Path, default=None, help="the CSV to write (default: <file>_segments.csv)")
    c.add_argument("--sav", type=Path, default=None, help="also write an SPSS .sav with value labels")
    c.add_argument("--id", default=None, help="the respondent id column (default: ids 1..N)")
    c.add_argument("--study", default=None, help="refuse a model card of another study")
    c.add_argument("--encoding", default=None, help="the CSV's text encoding (default: UTF-8)")
    c.add_argument("--delimiter", default=None, help="the CSV's delimiter (default: comma)")
    c.add_argument("--force", action="store_true", help="overwrite existing output files")
    return parser


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _print_scorecard(card) -> int:
    failed = card[~card["passed"]]
    print(f"{len(card) - len(failed)} of {len(card)} claims pass")
    for _, row in failed.iterrows():
        print(f"FAIL {row['claim']}: reported {row['reported_value']}, replicated "
              f"{row['replicated_value']} (tolerance {row['tolerance']})")
    return len(failed)


def _run(args) -> int:
    from tqdm import tqdm

    specs = [load_study(s) for s in (args.study or shipped_studies())]   # all parsed before any work
    # Progress on a terminal only (disable=None): one tick per finished study.
    progress = tqdm(total=len(specs), desc="replication run", unit="study", disable=None, file=sys.stderr)

    def done(run):
        progress.update()
        card = run.result.scorecard
        verdict = f"{int(card['passed'].sum())} of {len(card)} claims pass" if len(card) else "no claims"
        progress.write(f"{run.spec.id}: N = {run.result.n}; {verdict}; {run.layout.page}", file=sys.stdout)

    try:
        pipeline.run_studies(specs, args.root, notebooks=not args.no_notebooks, log=_log, on_study_done=done)
    finally:
        progress.close()
    print(f"open {Path(args.root) / 'reports' / 'index.html'}")
    return 0


def _step(args, spec) -> int:
    layout = pipeline.layout_for(spec, args.root)
    if args.command == "generate":
        if args.force and any(getattr(layout, f).exists() for f in pipeline.RAW_FILES):
            _log(f"overwriting the raw data in {layout.raw} (--force)")
        written = pipeline.generate(spec, layout, n=args.n, separation=args.separation, seed=args.seed,
                                    force=args.force)
    elif args.command == "validate" and spec.data is not None:
        user = pipeline.load_user_data(spec)
        from .analysis import check_survey_matches
        check_survey_matches(spec, user.survey, user.source)
        print(f"{spec.id}: specification valid")
        print(user.summary())
        return 0
    elif args.command == "validate":
        survey = pipeline.load_survey(layout)
        from .analysis import check_survey_matches
        check_survey_matches(spec, survey, layout.survey)
        print(f"{spec.id}: specification valid; {layout.survey}: {len(survey)} respondents valid")
        return 0
    elif args.command == "verify":
        raise AssertionError("handled by _verify")
    elif args.command in ("controls", "curve"):
        written = pipeline.monte_carlo(spec, layout, args.command, seeds=args.seeds, n_jobs=args.jobs,
                                       backend=args.backend, scenarios=getattr(args, "scenario", None),
                                       separations=getattr(args, "separations", None), log=print)
    elif args.command == "notebooks":
        from .report.notebooks import execute_notebooks
        written = execute_notebooks(spec, layout, names=args.names or None, log=_log)
    else:
        run = pipeline.analyse_study(spec, layout)
        if args.command == "report":
            from .report.manifest import write_manifest
            from .report.page import write_study_page
            written = [write_study_page(run), write_manifest(run)]
        elif args.command == "recovery" and run.recovery is None:
            raise ReplicationError(f"study '{spec.id}' has no generating truth (not synthetic): "
                                   "there is nothing to recover")
        else:
            written = run.result.save(layout, run.recovery, steps=[args.command])
        if args.command == "check":
            for p in written:
                print(f"wrote {p}")
            bad = _print_scorecard(run.result.scorecard)
            return 1 if bad and not args.exit_zero else 0
    for p in written:
        print(f"wrote {p}")
    return 0


def _init(args) -> int:
    from .study.init_template import write_template
    path = write_template(args.file, args.output, force=args.force, encoding=args.encoding,
                          delimiter=args.delimiter)
    print(f"wrote {path}")
    print(f"next: replace every TODO, then `replication validate --study {path}` and "
          f"`replication run --study {path}`")
    return 0


def _classify(args) -> int:
    from .membership.model_card import classify, load_model_card, read_new_respondents, write_classification
    card = load_model_card(args.card, study_id=args.study)
    out_csv = args.output or args.file.with_name(args.file.stem + "_segments.csv")
    existing = [p for p in (out_csv, args.sav) if p is not None and p.exists()]
    if existing and not args.force:
        raise ReplicationError(f"{existing[0]}: already exists and is not overwritten; pass --force to replace it")
    user = read_new_respondents(card, args.file, id_column=args.id, encoding=args.encoding,
                                delimiter=args.delimiter)
    table = classify(card, user.survey, source=args.file)
    written = write_classification(table, card, out_csv, args.sav)
    for r in user.dropped.itertuples():
        _log(f"{args.file}: {r.n} respondent(s) {r.reason} (rows {r.rows})")
    counts = table["segment"].value_counts()
    print(f"{len(table)} respondents classified with the model card of study '{card['study']['id']}': "
          + ", ".join(f"{s} {n}" for s, n in counts.items()))
    for p in written:
        print(f"wrote {p}")
    return 0


def _verify(args) -> int:
    from .report.manifest import verify
    problems = []
    for s in args.study or shipped_studies():
        spec = load_study(s)
        found = verify(spec, pipeline.layout_for(spec, args.root))
        problems += found
        print(f"verify {spec.id}: " + ("all regenerated files match the manifest" if not found
                                      else f"{len(found)} file(s) differ from the manifest"))
    for line in problems:
        print(f"DIFFERS {line}")
    return 1 if problems else 0


def run(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "outputs":
        print(markdown_table())
        return 0
    if args.command == "run":
        return _run(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "init":
        return _init(args)
    if args.command == "classify":
        return _classify(args)
    return _step(args, load_study(args.study))


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
