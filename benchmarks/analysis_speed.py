"""Time the in-memory analysis of each shipped study at its default N, in three forms.

* **core**: what the engine issue budgets (0.5 s at N = 586): k-selection criteria, the
  segmentation and naming, the multinomial logit with one likelihood-ratio refit per
  predictor and the scikit-learn cross-check, the share intervals and the scorecard
  (``analyse(spec, survey, stability=False)``), plus the recovery tables.
* **replicate**: one Monte Carlo replicate of the control scenarios and the replicability
  curve, generation included (``controls._replicate``; budget 0.3 s at N = 586).
* **complete**: everything ``replication run`` computes before writing: the core plus the
  bootstrap re-segmentations, the random row orders, the three-step corrected membership
  model and (with the recovery tables) the comparison of segmentation methods.

Imports and, except for the replicate, data generation are excluded; every form runs once
untimed first (one-time lazy imports and caches).

Usage: .venv/bin/python benchmarks/analysis_speed.py [--repeat 7] [--study ID ...]
"""

import argparse
import statistics
import time

from replication import analyse, load_study, shipped_studies, simulate_survey
from replication.evaluation import controls
from replication.evaluation.recovery import recovery_tables

BUDGETS = {("golovacheva2022", "core"): 0.5, ("golovacheva2022", "replicate"): 0.3}


def timed(fn, repeat: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--study", nargs="+", default=shipped_studies())
    args = ap.parse_args()
    print(f"{'study':<18} {'N':>7} {'form':<10} {'median s':>9} {'min s':>7} {'budget':>7}")
    for sid in args.study:
        spec = load_study(sid)
        sample = simulate_survey(spec)
        default = next(s for s in controls.shipped_scenarios(sid) if controls.load_scenario(s).default)
        scenario = controls.load_scenario(default)
        gen = controls.generating_spec(spec, scenario)
        seeds = iter(range(10_000))
        forms = {
            "core": lambda: recovery_tables(analyse(spec, sample.survey, stability=False), sample.truth),
            "replicate": lambda: controls._replicate(spec, gen, scenario, next(seeds)),
            "complete": lambda: recovery_tables(analyse(spec, sample.survey), sample.truth),
        }
        sizes = {"replicate": scenario.generator.n or len(sample.survey)}   # a scenario may set its own N
        for form, fn in forms.items():
            # Panel-scale forms take seconds each: fewer repeats.
            times = timed(fn, args.repeat if len(sample.survey) <= 5000 or form == "core" else max(1, args.repeat // 3))
            budget = BUDGETS.get((sid, form))
            print(f"{sid:<18} {sizes.get(form, len(sample.survey)):>7,} {form:<10} {statistics.median(times):>9.3f} "
                  f"{min(times):>7.3f} {budget if budget else '-':>7}", flush=True)


if __name__ == "__main__":
    main()
