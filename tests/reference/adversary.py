#!/usr/bin/env python3
"""An information-governance reviewer's attack on a relink release.

Given the files one `pseudolink relink --disclosure hes` run wrote (report,
costs, balance, HTML, disclosure log), this tries to recover every withheld
or rounded count from the published numbers alone, and fails (exit 1) if
any count is pinned more tightly than docs/SPEC.md section 6 allows:

- a withheld count from 1 to 7 (rule `primary`) narrowed to fewer than 3
  of the values 1-7;
- any other count (shown rounded, or withheld) pinned to one value.

It knows what the SPEC says: a shown count c > 0 is within c - 2 .. c + 2,
a primary `*` is 1-7, a secondary `*` is at least 8 (the log says which).
It uses every published relation: groups add up to `Total` (in every count
column, for every event type), people whose use fell, stayed and rose add up
to the row's people, `patients` is the same count in every event type's row
and in the costs file. Every derived value (per patient, percentages,
change, costs, value sums) must be a function of the shown counts alone:
one that is not would be a new equation on the true counts, and is reported
as a leak. p-values, SMDs and estimates must be withheld where section 6
says. Every count stated in the HTML must be a released cell or a lone count
rounded to 5.

Written independently of the Rust code: plain Python, no shared logic.

Usage: adversary.py DIR [--unit-costs FILE]
DIR holds report.csv, disclosure-log.csv and, when written, costs.csv,
balance.csv, event_study.csv, report.html. --months N gives relink's
--months (default 6).
"""
import csv
import html
import os
import re
import sys

INF = 10**9


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


class Leak(Exception):
    pass


def fail(msg):
    raise Leak(msg)


COUNT_COLUMNS = [
    "patients", "pre_events", "post_events", "patients_with_pre_event",
    "patients_with_post_event", "patients_decreased", "patients_unchanged",
    "patients_increased", "matched_cases", "controls", "control_pre_events",
    "control_post_events",
]
SHARED = ["patients", "matched_cases", "controls"]


def is_count_column(name):
    return name in COUNT_COLUMNS or re.fullmatch(r"patients_within_\d+d", name)


class Solver:
    def __init__(self):
        self.lo, self.hi, self.rule, self.name = [], [], [], []
        self.sums = []

    def var(self, cell, rule, name):
        if cell == "*":
            lo, hi = {"primary": (1, 7), "secondary": (8, INF)}.get(rule, (0, INF))
            if rule is None:
                fail(f"{name}: withheld but not in the disclosure log")
        else:
            c = int(cell)
            if c != 0 and (c % 5 != 0 or c < 10):
                fail(f"{name}: {c} is not a count rounded to 5 (or 0)")
            lo, hi = (0, 0) if c == 0 else (c - 2, c + 2)
        self.lo.append(lo)
        self.hi.append(hi)
        self.rule.append(rule if cell == "*" else "shown")
        self.name.append(name)
        return len(self.lo) - 1

    def add_sum(self, total, parts):
        self.sums.append((total, parts))

    def propagate(self):
        lo, hi = self.lo, self.hi
        for _ in range(200):
            changed = False
            for total, parts in self.sums:
                slo = sum(lo[p] for p in parts)
                shi = sum(min(hi[p], INF) for p in parts)
                nlo, nhi = max(lo[total], slo), min(hi[total], shi)
                if (nlo, nhi) != (lo[total], hi[total]):
                    lo[total], hi[total] = nlo, nhi
                    changed = True
                for p in parts:
                    a = max(lo[p], nlo - (shi - min(hi[p], INF)))
                    b = min(hi[p], nhi - (slo - lo[p]))
                    if (a, b) != (lo[p], hi[p]):
                        lo[p], hi[p] = a, b
                        changed = True
            if not changed:
                break
        for v in range(len(lo)):
            if lo[v] > hi[v]:
                fail(f"{self.name[v]}: the published numbers contradict each other")

    def check(self):
        # A secondary * is at least 8, unless the engine had to withhold a
        # zero: if the first reading contradicts itself, take it as >= 0.
        saved = (list(self.lo), list(self.hi))
        try:
            self.propagate()
        except Leak as e:
            if "contradict" not in str(e):
                raise
            self.lo, self.hi = saved
            for v, rule in enumerate(self.rule):
                if rule == "secondary":
                    self.lo[v] = 0
            self.propagate()
        for v in range(len(self.lo)):
            lo, hi, rule = self.lo[v], self.hi[v], self.rule[v]
            if rule == "primary":
                if min(hi, 7) - max(lo, 1) + 1 < 3:
                    fail(f"{self.name[v]}: a withheld count narrowed to {max(lo,1)}..{min(hi,7)}")
            elif lo == hi == 0:
                # A count every group shares with a Total of 0 is 0.
                continue
            elif lo >= hi:
                fail(f"{self.name[v]}: pinned to {lo} ({rule})")


def two(x):
    return f"{x:.2f}"


def expect_derived(cell, inputs, f, name):
    """A derived cell must be f(shown inputs), or * when an input is *."""
    if cell is None:
        return
    if any(i == "*" for i in inputs):
        if cell != "*":
            fail(f"{name}: {cell!r} shown although a count it rests on is withheld")
        return
    want = f(*[float(i) for i in inputs])
    want = "" if want is None else want
    if cell != want:
        fail(f"{name}: {cell!r} is not computed from the shown counts ({want!r})")


def ratio(a, b):
    return None if b == 0 else two(a / b)


def pct(a, b):
    return None if b == 0 else two(100 * a / b)


def change(a, b):
    return None if a == 0 else two(100 * (b - a) / a)


def study(d, s, log, groups, keys, types, var, cells, months):
    """The event study: the same people and events month by month."""
    path = os.path.join(d, "event_study.csv")
    if not os.path.exists(path):
        return
    header, rows = read(path)
    col = {h: i for i, h in enumerate(header)}
    v = {}
    for r in rows:
        k, t, m = tuple(r[:groups]), r[groups], int(r[groups + 1])
        label = " / ".join(list(k) + [t, str(m)])
        for h in ("cases", "case_events", "controls", "control_events"):
            if h not in col:
                continue
            cell = r[col[h]]
            rule = log.get(("event_study", label, h))
            same = {"cases": "patients", "controls": "matched_cases"}.get(h)
            if same and -months <= m < months:
                # Within the windows: the report's own count.
                if cell != "*" and s.rule[var(k, t, same)] == "shown" and s.lo[var(k, t, same)] + 2 != int(cell):
                    fail(f"event study {label}/{h}: {cell} differs from the report's {same}")
                if (cell == "*") != (s.rule[var(k, t, same)] != "shown"):
                    fail(f"event study {label}/{h}: withheld here but not in the report, or the reverse")
                v[(k, t, m, h)] = var(k, t, same)
            else:
                v[(k, t, m, h)] = s.var(cell, rule, f"event study {label}/{h}")
        g = lambda h: r[col[h]] if h in col else None
        expect_derived(g("case_rate_per_100"), [g("case_events"), g("cases")], pct, label + "/case_rate_per_100")
        expect_derived(g("control_rate_per_100"), [g("control_events"), g("controls")], pct, label + "/control_rate_per_100")
    total = tuple(["Total"] * groups)
    parts = [k for k in keys if k != total]
    for t in types:
        for m in range(-12, 12):
            for h in ("cases", "case_events", "controls", "control_events"):
                if (total, t, m, h) in v:
                    s.add_sum(v[(total, t, m, h)], [v[(k, t, m, h)] for k in parts])
        if months <= 12:
            for k in keys:
                s.add_sum(cells[(k, t, "pre_events")], [v[(k, t, m, "case_events")] for m in range(-months, 0)])
                s.add_sum(cells[(k, t, "post_events")], [v[(k, t, m, "case_events")] for m in range(0, months)])


def attack(d, unit_costs=None, months=6):
    header, rows = read(os.path.join(d, "report.csv"))
    log = {}
    if os.path.exists(os.path.join(d, "disclosure-log.csv")):
        _, entries = read(os.path.join(d, "disclosure-log.csv"))
        for f, row, col, rule in entries:
            log[(f, row, col)] = rule
    et = header.index("event_type")
    groups = et
    col = {h: i for i, h in enumerate(header)}
    s = Solver()
    # One variable per shared count per group, per other count per row.
    shared = {}
    cells = {}
    types = []
    for r in rows:
        key = tuple(r[:groups])
        t = r[et]
        if t not in types:
            types.append(t)
        label = " / ".join(list(key) + [t])
        for h in header:
            if not is_count_column(h):
                continue
            rule = log.get(("report", label, h))
            if h in SHARED:
                if (key, h) in shared:
                    v = shared[(key, h)]
                    if s.rule[v] == "shown" and r[col[h]] == "*" or s.rule[v] != "shown" and r[col[h]] != "*":
                        fail(f"{label}: {h} is withheld in one event type's row but not another's")
                    continue
                shared[(key, h)] = s.var(r[col[h]], rule, f"{label}/{h}")
            else:
                cells[(key, t, h)] = s.var(r[col[h]], rule, f"{label}/{h}")
    keys = []
    for r in rows:
        k = tuple(r[:groups])
        if k not in keys:
            keys.append(k)
    total = tuple(["Total"] * groups)
    parts = [k for k in keys if k != total]

    def var(k, t, h):
        return shared[(k, h)] if h in SHARED else cells[(k, t, h)]

    count_cols = [h for h in header if is_count_column(h)]
    for h in count_cols:
        for t in types if h not in SHARED else [types[0]]:
            s.add_sum(var(total, t, h), [var(k, t, h) for k in parts])
    if "patients_decreased" in col:
        for k in keys:
            for t in types:
                s.add_sum(shared[(k, "patients")],
                          [cells[(k, t, h)] for h in ("patients_decreased", "patients_unchanged", "patients_increased")])

    # Derived values, row by row.
    for r in rows:
        label = " / ".join(r[:groups + 1])
        g = lambda h: r[col[h]] if h in col else None
        expect_derived(g("pre_per_patient"), [g("pre_events"), g("patients")], ratio, label + "/pre_per_patient")
        expect_derived(g("post_per_patient"), [g("post_events"), g("patients")], ratio, label + "/post_per_patient")
        expect_derived(g("change_pct"), [g("pre_events"), g("post_events")], change, label + "/change_pct")
        for h in header:
            m = re.fullmatch(r"pct_within_(\d+)d", h)
            if m:
                expect_derived(g(h), [g(f"patients_within_{m.group(1)}d"), g("patients")], pct, label + "/" + h)
        if "controls" in col:
            expect_derived(g("control_pre_per_patient"), [g("control_pre_events"), g("controls")], ratio, label + "/control_pre_per_patient")
            expect_derived(g("control_post_per_patient"), [g("control_post_events"), g("controls")], ratio, label + "/control_post_per_patient")
            for h in ("case_pre_per_patient_matched", "case_post_per_patient_matched", "did_per_patient", "did_ci_low", "did_ci_high"):
                if g("matched_cases") == "*" and g(h) != "*":
                    fail(f"{label}/{h}: shown although matched_cases is withheld")
            if g("did_per_patient") not in ("*", "") and int(g("matched_cases")) < 10:
                fail(f"{label}: an estimate shown on fewer than 8 matched cases")
        if "pre_value" in col:
            for v, c in (("pre_value", "pre_events"), ("post_value", "post_events")):
                if (g(v) == "*") != (g(c) == "*"):
                    fail(f"{label}/{v}: a value sum not withheld with its count")
                if g(v) != "*" and float(g(v)) % 5 != 0:
                    fail(f"{label}/{v}: a value sum not rounded to 5")
            expect_derived(g("value_change_pct"), [g("pre_value"), g("post_value")], change, label + "/value_change_pct")
        # p-values: only with 10 or more changers and neither side 1-7.
        for p in ("p_value", "value_p_value"):
            if p in col and g(p) == "":
                fail(f"{label}/{p}: empty under hes (it must be * or a value)")
        if g("p_value") not in ("*", None):
            dec, inc = g("patients_decreased"), g("patients_increased")
            if "*" in (dec, inc) or int(dec) + int(inc) < 10:
                fail(f"{label}/p_value: a test shown with too few (or withheld) changers")
        if g("patients") == "*":
            for h in header[groups + 1:]:
                if g(h) != "*":
                    fail(f"{label}/{h}: a small group's cell is shown")

    # The costs file: the same patients, costs from the shown counts.
    costs_path = os.path.join(d, "costs.csv")
    if os.path.exists(costs_path):
        ch, crows = read(costs_path)
        cc = {h: i for i, h in enumerate(ch)}
        for cr in crows:
            k = tuple(cr[:groups])
            label = " / ".join(k)
            report_patients = [r[col["patients"]] for r in rows if tuple(r[:groups]) == k][0]
            if cr[cc["patients"]] != report_patients:
                fail(f"costs {label}: patients {cr[cc['patients']]} differs from the report's {report_patients}")
            if unit_costs:
                for side in ("pre", "post"):
                    counts = [r[col[f"{side}_events"]] for r in rows if tuple(r[:groups]) == k]
                    tlist = [r[et] for r in rows if tuple(r[:groups]) == k]
                    if "*" in counts:
                        want = "*"
                    else:
                        milli = sum(int(c) * unit_costs[t] for c, t in zip(counts, tlist))
                        want = str(int((milli + 500) // 1000)) if milli >= 0 else None
                    if cr[cc[f"{side}_cost"]] != want:
                        fail(f"costs {label}: {side}_cost {cr[cc[side + '_cost']]!r} is not computed from the shown counts ({want!r})")
            if cr[cc["p_value"]] == "":
                fail(f"costs {label}: empty p-value under hes")
            if "did_cost_per_patient" in cc and cr[cc["did_cost_per_patient"]] != "*":
                matched = [r[col["matched_cases"]] for r in rows if tuple(r[:groups]) == k][0]
                if matched == "*" or int(matched) < 10:
                    fail(f"costs {label}: a net cost estimate shown on fewer than 8 matched cases")

    bal = os.path.join(d, "balance.csv")
    if os.path.exists(bal):
        bh, brows = read(bal)
        tcases = [r[col["matched_cases"]] for r in rows if tuple(r[:groups]) == total][0]
        for b in brows:
            if b[1] != tcases:
                fail(f"balance {b[0]}: cases {b[1]} differ from the report's matched cases {tcases}")
            if b[1] == "*" and (b[2] != "*" or b[3] != "*"):
                fail(f"balance {b[0]}: an SMD shown although cases are withheld")

    study(d, s, log, groups, keys, types, var, cells, months)
    s.check()

    # The HTML: every count it states is a released cell or rounded to 5.
    page = os.path.join(d, "report.html")
    if os.path.exists(page):
        released = set()
        for name in ("report.csv", "costs.csv", "balance.csv"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                for r in read(p)[1]:
                    released.update(r)
        text = open(page, encoding="utf-8").read()
        text = re.sub(r"<style>.*?</style>", " ", text, flags=re.S)
        # Charts draw released cells; their axis ticks are not counts.
        text = re.sub(r"<svg.*?</svg>", " ", text, flags=re.S)
        text = re.sub(r'<p class="meta">.*?</p>', " ", text, flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        for m in re.finditer(r"(?<![\d.\-:/,])(\d{1,3}(?:,\d{3})+|\d+)(?![\d.\-:/%d]|,\d)", text):
            n = m.group(1).replace(",", "")
            if int(n) < 8 or n in released or int(n) % 5 == 0:
                continue
            context = text[max(0, m.start() - 60):m.end() + 30].replace("\n", " ")
            if re.search(r"\b(months?|days?|SPEC|standardised|below|than|least|Rotherham|or more)\b|withheld|within", context):
                continue
            fail(f"HTML states {n}, which is no released cell and not rounded to 5: ...{context}...")


def main():
    d = sys.argv[1]
    unit_costs = None
    months = int(sys.argv[sys.argv.index("--months") + 1]) if "--months" in sys.argv else 6
    if "--unit-costs" in sys.argv:
        path = sys.argv[sys.argv.index("--unit-costs") + 1]
        unit_costs = {}
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = [l for l in f if not l.startswith("#")]
        for t, c in list(csv.reader(lines))[1:]:
            whole, _, frac = c.strip().partition(".")
            unit_costs[t.strip()] = int(whole) * 1000 + int((frac + "000")[:3])
    try:
        attack(d, unit_costs, months)
    except Leak as e:
        print(f"LEAK in {d}: {e}")
        sys.exit(1)
    print(f"held: {d}")


if __name__ == "__main__":
    main()
