"""Independent reference for tests/measures.rs (SPEC section 7).

Computes every figure of the hand-built fixture with plain Python and
scipy, without pseudolink, and prints the report and costs CSVs that the
Rust test expects under --disclosure none. (Its `hes` tables follow the
primary rule of SPEC 1.1 only; under 1.2's secondary suppression the
expected hes tables are worked by hand in tests/measures.rs and attacked
by tests/reference/adversary.py.) Run it to regenerate the expected text
after changing the fixture:

    pip install scipy && python3 tests/reference/measures.py

The fixture (people, events, unit costs) is written out again in
tests/measures.rs; the two must match.
"""
from datetime import date, timedelta
import math
from decimal import Decimal, ROUND_HALF_UP
from scipy.stats import wilcoxon

# group, intervention date, pre-window start, post-window end (6 months)
PEOPLE = {}
for i in range(10):
    PEOPLE[f"G{i}"] = ("G", date(2024, 7, 1), date(2024, 1, 1), date(2025, 1, 1))
for i in range(3):
    PEOPLE[f"H{i}"] = ("H", date(2024, 5, 15), date(2023, 11, 15), date(2024, 11, 15))

D = lambda s: date.fromisoformat(s)
# (person, event date, type, length of stay or "" for empty)
EVENTS = [
    ("G0", "2024-03-10", "AE", ""), ("G0", "2024-06-30", "AE", ""), ("G0", "2024-02-01", "NEL", "3.5"),
    ("G1", "2024-05-20", "AE", ""), ("G1", "2024-07-13", "AE", ""), ("G1", "2024-09-01", "NEL", "2"),
    ("G2", "2024-01-01", "AE", ""), ("G2", "2024-02-02", "AE", ""), ("G2", "2024-04-04", "AE", ""),
    ("G2", "2024-07-15", "AE", ""), ("G2", "2024-03-03", "NEL", "1"), ("G2", "2024-05-05", "NEL", "4"),
    ("G2", "2024-07-01", "NEL", "0.5"),
    ("G3", "2024-08-10", "AE", ""), ("G3", "2024-10-09", "AE", ""),
    ("G4", "2024-06-01", "AE", ""), ("G4", "2024-09-28", "AE", ""), ("G4", "2024-03-01", "NEL", "2.5"),
    ("G4", "2024-09-29", "NEL", "2.5"),
    ("G5", "2024-01-15", "AE", ""), ("G5", "2024-02-15", "AE", ""), ("G5", "2024-08-01", "AE", ""),
    ("G5", "2024-11-01", "AE", ""), ("G5", "2024-04-20", "NEL", "6"), ("G5", "2024-12-31", "NEL", "1"),
    ("G7", "2024-01-10", "AE", ""), ("G7", "2024-02-10", "AE", ""), ("G7", "2024-03-10", "AE", ""),
    ("G7", "2024-04-10", "AE", ""), ("G7", "2024-08-20", "AE", ""), ("G7", "2024-02-20", "NEL", "2"),
    ("G7", "2024-05-20", "NEL", "2"),
    ("G8", "2024-06-15", "AE", ""), ("G8", "2024-07-02", "AE", ""), ("G8", "2024-07-20", "AE", ""),
    ("G8", "2024-12-01", "AE", ""), ("G8", "2024-07-05", "NEL", "7"), ("G8", "2024-10-05", "NEL", ""),
    ("G9", "2024-02-29", "AE", ""), ("G9", "2024-05-31", "AE", ""), ("G9", "2024-06-06", "NEL", "1.25"),
    # outside every window: not counted
    ("G0", "2023-12-31", "AE", ""), ("G1", "2025-01-01", "NEL", "9"), ("G6", "2022-06-01", "AE", ""),
    ("H0", "2024-01-01", "AE", ""), ("H0", "2024-03-03", "NEL", "5"),
    ("H1", "2024-05-18", "AE", ""), ("H1", "2024-06-04", "AE", ""),
    ("H2", "2023-12-01", "AE", ""), ("H2", "2024-04-01", "AE", ""), ("H2", "2024-08-23", "AE", ""),
    ("H2", "2024-09-01", "NEL", "3"),
]
TYPES = ["AE", "NEL"]
WITHIN = [14, 90]
UNIT = {"AE": 114.0, "NEL": 1758.5}
SERVICE = 1171.0

# per person, type: counts, values, first post day
count = {(p, t): [0, 0] for p in PEOPLE for t in TYPES}
value = {(p, t): [0.0, 0.0] for p in PEOPLE for t in TYPES}
first = {(p, t): None for p in PEOPLE for t in TYPES}
for p, ds, t, los in EVENTS:
    g, d, start, end = PEOPLE[p]
    e = D(ds)
    if not (start <= e < end):
        continue
    w = 0 if e < d else 1
    count[p, t][w] += 1
    value[p, t][w] += float(los) if los else 0.0
    if w == 1:
        days = (e - d).days
        first[p, t] = days if first[p, t] is None else min(first[p, t], days)


def small(c):
    return 1 <= c <= 7


def r5(c):
    return int(math.floor((c + 2) / 5)) * 5


def pval(diffs):
    nz = [x for x in diffs if x != 0]
    if len(nz) < 2:
        return None
    return wilcoxon(diffs, zero_method="wilcox", correction=False, method="approx").pvalue


def g4(x):
    return "" if x is None else "%.4g" % x


def f2(x):
    return "" if x is None else "%.2f" % x


def members(g):
    return [p for p in PEOPLE if g == "Total" or PEOPLE[p][0] == g]


def report(hes):
    head = ["cohort", "event_type", "patients", "pre_events", "post_events", "pre_per_patient",
            "post_per_patient", "change_pct", "patients_with_pre_event", "patients_with_post_event",
            "p_value", "patients_decreased", "patients_unchanged", "patients_increased"]
    for w in WITHIN:
        head += [f"patients_within_{w}d", f"pct_within_{w}d"]
    head += ["pre_value", "post_value", "value_change_pct", "value_p_value"]
    lines = [",".join(head)]
    cnt = (lambda c: "*" if small(c) else str(r5(c))) if hes else str
    der = (lambda rests, s: "*" if any(small(c) for c in rests) else s) if hes else (lambda rests, s: s)
    for g in ["G", "H", "Total"]:
        ms = members(g)
        n = len(ms)
        for t in TYPES:
            pre = sum(count[p, t][0] for p in ms)
            post = sum(count[p, t][1] for p in ms)
            wpre = sum(count[p, t][0] > 0 for p in ms)
            wpost = sum(count[p, t][1] > 0 for p in ms)
            diffs = [count[p, t][1] - count[p, t][0] for p in ms]
            dec = sum(x < 0 for x in diffs)
            unc = sum(x == 0 for x in diffs)
            inc = sum(x > 0 for x in diffs)
            row = [g, t, cnt(n), cnt(pre), cnt(post),
                   der([pre, n], f2(pre / n)), der([post, n], f2(post / n)),
                   der([pre, post], f2(100 * (post - pre) / pre) if pre else ""),
                   cnt(wpre), cnt(wpost), der([n, pre, post], g4(pval(diffs))),
                   cnt(dec), cnt(unc), cnt(inc)]
            for w in WITHIN:
                k = sum(first[p, t] is not None and first[p, t] < w for p in ms)
                row += [cnt(k), der([k, n], f2(100 * k / n))]
            vpre = sum(value[p, t][0] for p in ms)
            vpost = sum(value[p, t][1] for p in ms)
            vd = [round((value[p, t][1] - value[p, t][0]) * 1000) for p in ms]

            def shown_v(v, ev):
                # One decimal, half away from zero (22.25 -> 22.3), as a
                # spreadsheet's ROUND does; Python's "%.1f" would give 22.2.
                if hes and small(ev):
                    return "*"
                if hes:
                    v = math.floor((v + 2.5) / 5) * 5
                return str(Decimal(repr(v)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))

            row += [shown_v(vpre, pre), shown_v(vpost, post),
                    der([pre, post], f2(100 * (vpost - vpre) / vpre) if vpre else ""),
                    der([n, pre, post], g4(pval(vd)))]
            lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def costs(hes):
    head = ["cohort", "patients", "pre_cost", "post_cost", "change_pct", "saving_per_patient",
            "p_value", "service_cost_per_patient", "return_per_pound"]
    lines = [",".join(head)]
    for g in ["G", "H", "Total"]:
        ms = members(g)
        n = len(ms)
        ev = {t: [sum(count[p, t][w] for p in ms) for w in (0, 1)] for t in TYPES}

        def cost(w):
            total = 0.0
            for t in TYPES:
                c = ev[t][w]
                if hes and small(c):
                    return None
                total += UNIT[t] * (r5(c) if hes else c)
            return math.floor(total + 0.5)

        pre, post = cost(0), cost(1)
        shown_n = None if (hes and small(n)) else (r5(n) if hes else n)
        if pre is None or post is None:
            change = "*"
        else:
            change = f2(100 * (post - pre) / pre) if pre else ""
        saving = None if (pre is None or post is None or shown_n is None) else (pre - post) / shown_n
        diffs = [round(sum(UNIT[t] * (count[p, t][1] - count[p, t][0]) for t in TYPES) * 1000) for p in ms]
        rests = [n] + [ev[t][w] for t in TYPES for w in (0, 1)]
        p = "*" if hes and any(small(c) for c in rests) else g4(pval(diffs))
        row = [g, ("*" if hes and small(n) else str(r5(n) if hes else n)),
               "*" if pre is None else str(pre), "*" if post is None else str(post), change,
               "*" if saving is None else f2(saving), p, "%.2f" % SERVICE,
               "*" if saving is None else f2(saving / SERVICE)]
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


for name, text in [("REPORT_NONE", report(False)), ("COSTS_NONE", costs(False))]:
    print(f'const {name}: &str = "\\\n{text}";\n')
