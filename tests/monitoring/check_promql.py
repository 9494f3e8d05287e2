#!/usr/bin/env python3
"""Checks the PromQL vmmd ships: every expression of the alerting/recording rules and of the
Grafana dashboard must parse (Prometheus' own parser, through `promtool check rules`) and may
only use series that vmmd exports (the families of docs/metrics.md, which a unit test keeps
equal to what vmmd serves), the rules' own recording rules and Prometheus' `up`, and may only
match a series on labels it has (its documented labels, and job/instance from Prometheus). The dashboard
must also be well formed: unique panel ids, panels inside the 24-column grid, every query on the
dashboard's Prometheus variable, every $variable defined, and the panels an operator of vCPU
hotplug needs present.

usage: check_promql.py --promtool PATH --metrics-doc docs/metrics.md
                       --rules deploy/prometheus/vmmd-rules.yml
                       --dashboard deploy/grafana/vmmd-dashboard.json
Exit 0 when everything holds; 1 with one line per problem otherwise.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

# Panels the dashboard must keep (by title).
REQUIRED_PANELS = [
    "vCPUs by state",
    "Target vs online vCPUs",
    "Utilisation (busy / online vCPUs)",
    "Steal (waited for a host CPU / online vCPUs)",
    "Hotplug latency percentiles",
    "API errors",
]
# Grafana's built-in interval variables, replaced by a duration before parsing.
GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan", "atan2"}
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}


def exported_series(metrics_doc):
    """{series name: its label names} for what vmmd exports, from the families table of
    docs/metrics.md (a histogram's _bucket series also has `le`)."""
    series = {}
    row = re.compile(r"^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \| (counter|gauge|histogram) \| ([^|]*) \|")
    with open(metrics_doc, encoding="utf-8") as f:
        for line in f:
            m = row.match(line)
            if not m:
                continue
            name, kind, labels = m.groups()
            names = set(re.findall(r"`(\w+)`", labels)) | TARGET_LABELS
            if kind == "histogram":
                series[name + "_bucket"] = names | {"le"}
                series[name + "_sum"] = names
                series[name + "_count"] = names
            else:
                series[name] = names
    return series


def substitute_variables(expr):
    """Grafana variables -> something PromQL accepts: durations for the interval variables,
    '.*' for the others (they only stand inside regex matchers)."""
    def repl(m):
        name = m.group(1) or m.group(2)
        return GRAFANA_DURATIONS.get(name, ".*")
    return re.sub(r"\$\{(\w+)[^}]*\}|\$(\w+)", repl, expr)


def used_variables(expr):
    return {m.group(1) or m.group(2) for m in re.finditer(r"\$\{(\w+)[^}]*\}|\$(\w+)", expr)}


def series_names(expr):
    """Metric names an expression selects (strings, matchers, ranges and grouping labels are
    not names; a word followed by '(' is a function)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        word, start, end = m.group(0), m.start(), m.end()
        if start > 0 and (s[start - 1].isdigit() or s[start - 1] == "."):
            continue  # the unit of a duration or the exponent of a number
        if word.lower() in KEYWORDS:
            continue
        if s[end:].lstrip().startswith("("):
            continue  # a function or aggregation
        names.add(word)
    return names


def matched_labels(expr):
    """(series name, label) for every label matcher written right after a series name."""
    out = []
    for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", expr):
        for lm in re.finditer(r"(\w+)\s*(?:=~|!~|!=|=)", m.group(2)):
            out.append((m.group(1), lm.group(1)))
    return out


class Checker:
    def __init__(self, allowed, labels):
        self.allowed = allowed
        self.labels = labels  # series -> label names (vmmd's series only)
        self.problems = []
        self.exprs = []  # (where, expr as Prometheus will see it)

    def problem(self, text):
        self.problems.append(text)

    def add_expr(self, where, expr, variables=None):
        if not isinstance(expr, str) or not expr.strip():
            self.problem(f"{where}: empty expression")
            return
        if variables is not None:
            for v in sorted(used_variables(expr) - variables - set(GRAFANA_DURATIONS)):
                self.problem(f"{where}: ${v} is not a variable of the dashboard")
        concrete = substitute_variables(expr)
        for name in sorted(series_names(concrete) - self.allowed):
            self.problem(f"{where}: '{name}' is not a series vmmd exports "
                         f"(docs/metrics.md) nor a recording rule")
        for name, label in matched_labels(concrete):
            if name in self.labels and label not in self.labels[name]:
                self.problem(f"{where}: {name} has no label '{label}' "
                             f"(it has {', '.join(sorted(self.labels[name]))})")
        self.exprs.append((where, concrete))

    def parse_all(self, promtool):
        """Every expression through Prometheus' parser, as recording rules of a scratch file."""
        rules = [{"record": f"check:expr_{i}", "expr": e} for i, (_, e) in enumerate(self.exprs)]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "exprs.yml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}, f)
            out = subprocess.run([promtool, "check", "rules", path], capture_output=True,
                                 text=True, check=False)
        if out.returncode == 0:
            return
        text = out.stdout + out.stderr
        found = False
        for m in re.finditer(r'"check:expr_(\d+)": (.*)', text):
            where, _ = self.exprs[int(m.group(1))]
            self.problem(f"{where}: {m.group(2)}")
            found = True
        if not found:
            self.problem(f"promtool check rules failed: {text.strip()}")


def check_rules(c, path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("record") or rule.get("alert")
            c.add_expr(f"{os.path.basename(path)}: {name}", rule.get("expr"))


def check_dashboard(c, path):
    with open(path, encoding="utf-8") as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            c.problem(f"{path}: not JSON: {e}")
            return
    for key in ("title", "uid", "schemaVersion", "panels", "templating"):
        if key not in dash:
            c.problem(f"{path}: no '{key}'")
    variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    if "datasource" not in variables:
        c.problem(f"{path}: no 'datasource' variable (the queries need one to be importable)")
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q or "")
        if not m:
            c.problem(f"{path}: variable ${v.get('name')}: not a label_values(SELECTOR, LABEL) query")
            continue
        c.add_expr(f"variable ${v.get('name')}", m.group(1), variables)
    ids = set()
    titles = set()
    for p in dash.get("panels", []):
        title = p.get("title", "?")
        titles.add(title)
        where = f"panel '{title}'"
        if p.get("id") in ids:
            c.problem(f"{where}: id {p.get('id')} is used twice")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")) or g["x"] < 0 or \
                g["w"] <= 0 or g["x"] + g["w"] > 24:
            c.problem(f"{where}: gridPos {g} is outside the 24-column grid")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            c.problem(f"{where}: its datasource is not ${{datasource}}")
        targets = p.get("targets", [])
        if not targets:
            c.problem(f"{where}: no queries")
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if ref in refs:
                c.problem(f"{where}: refId {ref} is used twice")
            refs.add(ref)
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                c.problem(f"{where} {ref}: its datasource is not ${{datasource}}")
            c.add_expr(f"{where} {ref}", t.get("expr"), variables)
    for title in REQUIRED_PANELS:
        if title not in titles:
            c.problem(f"{path}: the panel '{title}' is missing")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--promtool", required=True)
    ap.add_argument("--metrics-doc", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--dashboard", required=True)
    args = ap.parse_args()

    with open(args.rules, encoding="utf-8") as f:
        recorded = {r["record"] for g in yaml.safe_load(f).get("groups", [])
                    for r in g.get("rules", []) if "record" in r}
    exported = exported_series(args.metrics_doc)
    if not exported:
        print(f"check_promql: no families found in {args.metrics_doc}")
        return 1
    c = Checker(set(exported) | recorded | PROMETHEUS_OWN, exported)
    check_rules(c, args.rules)
    check_dashboard(c, args.dashboard)
    c.parse_all(args.promtool)
    for p in c.problems:
        print(f"check_promql: {p}")
    if c.problems:
        return 1
    print(f"check_promql: {len(c.exprs)} expressions parse and use only the "
          f"{len(exported)} series vmmd exports and {len(recorded)} recording rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
