"""Render a Helm chart directory offline with the Helm SDK (helm-python-sdk, Helm v4), no cluster.

Runs in the checkov venv (scripts/checkov/requirements.txt):

    python scripts/checkov/render_chart.py CHART_DIR OUT.yaml [--values VALUES.json]
        [--name airflow] [--namespace airflow]

Without --values the chart's own defaults are rendered. With --values the values are first checked
against the chart's values.schema.json, as ``helm install`` does. Writes every rendered manifest as
one multi-document YAML file (templates that render nothing are left out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--values", type=Path)
    parser.add_argument("--name", default="airflow")
    parser.add_argument("--namespace", default="airflow")
    args = parser.parse_args(argv)

    import helm_python as helm

    if not (args.chart / "Chart.yaml").is_file():
        print(f"error: {args.chart} is not a chart directory (no Chart.yaml)", file=sys.stderr)
        return 2
    chart = helm.Chart.load(str(args.chart))
    values = json.loads(args.values.read_text()) if args.values else None
    if values is not None:
        chart.validate_schema(values)
    rendered = chart.render(values, name=args.name, namespace=args.namespace, is_install=True)
    documents = [text.strip() for path, text in sorted(rendered.items()) if path.endswith((".yaml", ".yml")) and text.strip()]
    args.out.write_text("\n---\n".join(documents) + "\n")
    print(f"{chart.name} {chart.version}: {len(documents)} templates rendered to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
