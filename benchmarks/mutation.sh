#!/usr/bin/env bash
# Mutation testing of abcspark's statistical core with mutmut 3 (issue "Tests with power").
#
# Too slow for CI (stages 1-3 took 54 min on 2 shared cores, stage 4 53, stage 5 49 and
# stage 6 19), so it lives here. It never touches the checkout it comes from: mutmut
# copies the project into mutants/ and rewrites files there, so the run happens in a scratch
# clone of the last commit, with a venv of its own. Results and their classification:
# benchmarks/MUTATION.md.
#
#   bash benchmarks/mutation.sh                   # clone, install, run every stage, report
#   STAGES="1 2 3" bash benchmarks/mutation.sh    # some stages; the others' results are kept
#   MUTATION_DIR=/tmp/m bash benchmarks/mutation.sh
#
# Results: $MUTATION_DIR/mutation-results.txt (every mutant's status), mutation-summary.txt
# (per module), mutation-survivors.diff (the diff of every surviving mutant).
set -euo pipefail

WORK=${MUTATION_DIR:-/tmp/mutation}
STAGES=${STAGES:-1 2 3 4 5 6}
MUTMUT_VERSION=3.8.1

if [ ! -d "$WORK/.git" ]; then
    git clone -q "$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)" "$WORK"
fi
cd "$WORK"
if [ ! -x .venv/bin/mutmut ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r requirements.txt -e ".[dev]" "mutmut==$MUTMUT_VERSION"
fi

# mutmut 3 reads [tool.mutmut] from pyproject.toml; the clone's copy gets it, the checkout's not.
if ! grep -q '^\[tool.mutmut\]' pyproject.toml; then
    cat >> pyproject.toml <<'TOML'

[tool.mutmut]
source_paths = ["abcspark"]
only_mutate = [
    "abcspark/kernels.py", "abcspark/weighted.py", "abcspark/algorithms/pmc.py",
    "abcspark/continuous.py", "abcspark/posterior.py", "abcspark/distributions.py",
    "abcspark/priors.py", "abcspark/discrete.py", "abcspark/multivariate.py",
    "abcspark/algorithms/sequential.py", "abcspark/algorithms/rejection.py",
    "abcspark/adjustment.py", "abcspark/sampling.py", "abcspark/sample_checks.py",
    "abcspark/budget.py",
]
# Lines that hold nothing but error-message text (a string literal alone on its line, or a
# one-line raise with its message): mutating their wording only tests the wording.
do_not_mutate_patterns = [
    '^\s*(f|rf|fr|r)?"[^"]*"\s*\)?\s*$',
    'raise (ValueError|TypeError|OSError|ImportError|AssertionError|BudgetExhausted)\(f?"',
]
pytest_add_cli_args = ["-p", "no:cacheprovider"]
# Every mutant's pytest session is the first in its process: a second session in one process
# re-escapes the backslashes of explicit parametrize ids (test_bad_parameters_are_refused), so
# those tests are "not found"; and test modules are imported with the mutant active, so objects
# built at import time (test_kernels.KERNELS, test_priors' parametrized distributions) are too.
process_isolation = "forkserver"
forkserver_warmup = "import"
preload_modules_file = "mutation-preload.txt"
# The in-process tests (engine="numpy"), about 20 s in all. Left out: every test that needs the
# spark fixture or starts a JVM or a subprocess; test_the_generation_the_budget_cuts_short_...
# (45 s alone: a 20-generation reference run); test_other_problem_is_refused (it pops from its
# parametrize dict, so it fails when pytest runs twice in one process, as mutmut does);
# test_properties.py (hypothesis: 17 s of random cases, a different set each session).
# test_adaptive.py, test_hardening.py and test_engines.py were added for stage 5: they run the
# algorithms in-process (adaptive refits, argument checks, an engine object of one's own).
pytest_add_cli_args_test_selection = [
    "tests/test_priors.py", "tests/test_kernels.py", "tests/test_power.py",
    "tests/test_posterior.py", "tests/test_pmc.py", "tests/test_rejection.py",
    "tests/test_adjustment.py", "tests/test_golden.py", "tests/test_distances.py",
    "tests/test_rng.py", "tests/test_simulation.py", "tests/test_reproducibility.py",
    "tests/test_checkpoint.py", "tests/test_progress.py", "tests/test_adaptive.py",
    "tests/test_hardening.py", "tests/test_engines.py",
    # POWER_TESTS
    "-k", "not spark and not hadoop and not uris_pick and not killed and not timeout and not budget_cuts_short and not simulator_failure_names and not identical_across and not rdd_path and not other_problem_is_refused and not hdfs_and_object_store and not create_makes_a_file",
]
TOML
    # The tests written to kill earlier survivors (tests/test_power_*.py), as many as the clone
    # has: a file not yet committed is not there, and a missing path would stop pytest.
    power=$(ls tests/test_power_*.py 2> /dev/null | sed 's/.*/"&",/' | tr '\n' ' ')
    sed -i "s|^    # POWER_TESTS\$|    ${power}|" pyproject.toml
fi

printf 'numpy\npandas\npyarrow\npyarrow.parquet\n' > mutation-preload.txt

# A test that would start Spark fails at once instead of launching a JVM per mutant.
export JAVA_HOME=/nonexistent

stage() {  # stage NUMBER PATTERN...
    local n=$1
    shift
    case " $STAGES " in *" $n "*) ;; *) return 0 ;; esac
    echo "== stage $n: $* ($(date +%T))"
    local t0=$SECONDS
    .venv/bin/mutmut run --max-children 2 "$@" > "mutation-stage-$n.log" 2>&1 || {
        echo "stage $n failed; see $WORK/mutation-stage-$n.log"
        tail -c 3000 "mutation-stage-$n.log"
        exit 1
    }
    echo "   stage $n took $((SECONDS - t0)) s"
}

# Most important first: kernels, weights, PMC; then the distributions and the posterior's
# moments and quantiles; then the rest of the algorithms.
P=abcspark.posterior.xǁPosteriorǁ
stage 1 "abcspark.weighted.*" "abcspark.kernels.*" "abcspark.algorithms.pmc.*"
stage 2 "abcspark.continuous.*" "${P}__init__*" "${P}mean*" "${P}cov*" "${P}std*" \
    "${P}quantile*" "${P}credible_interval*" "${P}summary*"
stage 3 "abcspark.distributions.*" "abcspark.priors.*" "abcspark.discrete.*" \
    "abcspark.multivariate.*" "abcspark.adjustment.*"
stage 4 "abcspark.sampling.*" "abcspark.sample_checks.*"
stage 5 "abcspark.algorithms.sequential.*" "abcspark.algorithms.rejection.*"
stage 6 "abcspark.budget.*"

# mutmut runs a mutant against the tests that called its function while they ran; objects a test
# module builds at import (test_kernels.KERNELS, test_priors' parametrized distributions) are
# built outside any test, so their constructors' mutants miss the tests that use them. Re-run
# every survivor of those modules against its home test files, the mutant active from import on.
.venv/bin/python - > mutation-recheck.log <<'PY'
import concurrent.futures, glob, json, os, resource, subprocess

HOME = {
    "abcspark.kernels": ["tests/test_kernels.py"],
    "abcspark.continuous": ["tests/test_priors.py", "tests/test_power.py"],
    "abcspark.distributions": ["tests/test_priors.py", "tests/test_power.py"],
    "abcspark.discrete": ["tests/test_priors.py", "tests/test_power.py"],
    "abcspark.multivariate": ["tests/test_priors.py", "tests/test_power.py"],
    "abcspark.priors": ["tests/test_priors.py", "tests/test_power.py"],
}
python = os.path.abspath(".venv/bin/python")
todo = []
for meta in sorted(glob.glob("mutants/abcspark/**/*.meta", recursive=True)):
    for name, code in json.load(open(meta))["exit_code_by_key"].items():
        module = name.split(".x")[0]
        if code == 0 and module in HOME:
            todo.append((name, HOME[module]))

def limit_memory():  # a mutated sampler may ask for an absurd array: fail, don't swap
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

def run(item):
    name, files = item
    env = dict(os.environ, MUTANT_UNDER_TEST=name, JAVA_HOME="/nonexistent")
    try:
        r = subprocess.run(
            [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *files],
            cwd="mutants", env=env, capture_output=True, text=True, timeout=120,
            preexec_fn=limit_memory,
        )
    except subprocess.TimeoutExpired:
        return name, "timeout"
    return name, r.returncode

killed = []
with concurrent.futures.ThreadPoolExecutor(2) as pool:
    for name, code in pool.map(run, todo):
        if code != 0:
            killed.append(name)
        print(f"{'killed' if code else 'survived'} ({code}) {name}", flush=True)
json.dump(killed, open("mutation-recheck-killed.json", "w"), indent=1, ensure_ascii=False)
print(f"recheck: {len(killed)} of {len(todo)} survivors killed by their home test files")
PY
tail -1 mutation-recheck.log

.venv/bin/mutmut results --all true > mutation-results.txt 2>&1
.venv/bin/python - <<'PY' | tee mutation-summary.txt
import collections, json, re
rechecked = set(json.load(open("mutation-recheck-killed.json")))
counts = collections.defaultdict(collections.Counter)
for line in open("mutation-results.txt"):
    m = re.match(r"\s*((abcspark\.[\w.]+?)\.x\S*__mutmut_\d+): (.+)$", line)
    if m:
        status = m.group(3).strip()
        if status == "survived" and m.group(1) in rechecked:
            status = "killed"
        # pytest's exit code 2, which mutmut files as "interrupted by user": a collection
        # error, i.e. a test module could not even be imported with the mutant active.
        if status == "check was interrupted by user":
            status = "killed"
        counts[m.group(2)][status] += 1
total = collections.Counter()
print(f"{'module':34} {'tested':>6} {'killed':>6} {'timeout':>7} {'survived':>8} {'score':>6}  not run")
for module, c in sorted(counts.items()):
    total.update(c)
    tested = sum(v for k, v in c.items() if k != "not checked")
    caught = c["killed"] + c["timeout"]
    score = f"{100 * caught / tested:.1f}%" if tested else "-"
    print(f"{module:34} {tested:6} {c['killed']:6} {c['timeout']:7} {c['survived']:8} {score:>6}  {c['not checked']}")
tested = sum(v for k, v in total.items() if k != "not checked")
print(f"{'all':34} {tested:6} {total['killed']:6} {total['timeout']:7} {total['survived']:8} "
      f"{100 * (total['killed'] + total['timeout']) / max(tested, 1):.1f}%  {total['not checked']}")
print("other statuses:", {k: v for k, v in total.items()
                          if k not in ("killed", "timeout", "survived", "not checked")})
PY
grep ': survived' mutation-results.txt | sed -E 's/^ *([^:]+):.*/\1/' \
    | grep -vxF -f <(.venv/bin/python -c 'import json; print("\n".join(json.load(open("mutation-recheck-killed.json"))))') \
    > mutation-survivors.txt || true
: > mutation-survivors.diff
while read -r name; do
    .venv/bin/mutmut show "$name" >> mutation-survivors.diff 2>&1 || true
done < mutation-survivors.txt
echo "survivors: $(wc -l < mutation-survivors.txt); diffs in $WORK/mutation-survivors.diff"
