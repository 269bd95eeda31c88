"""``python -m anomaly3d.data``: check downloaded datasets and show what the library expects.

python -m anomaly3d.data verify <dataset> <root> [--deep] [--json]
python -m anomaly3d.data info <dataset>
python -m anomaly3d.data list
"""

from __future__ import annotations

import argparse
import json
import sys

from anomaly3d.data.manifest import load_manifest
from anomaly3d.data.registry import DATASETS
from anomaly3d.data.sample import DataError
from anomaly3d.data.verify import format_report, verify


def _info(dataset: str) -> str:
    m = load_manifest(dataset)
    lines = [
        f"{m.name} ({m.id})",
        f"source: {m.source_page}",
        f"license: {m.license or '(not confirmed)'}",
        "archives:",
    ]
    for a in m.archives:
        size = f"{a.size_bytes} bytes" if a.size_bytes else "size not published"
        checks = (
            ", ".join(f"{k}={v}" for k, v in (("md5", a.md5), ("sha256", a.sha256)) if v) or "no checksum"
        )
        lines.append(f"  {a.name}: {size}; {checks}  {a.url}")
    lines.append(f"categories ({len(m.categories)}): {', '.join(m.categories)}")
    lines.append("layout:\n" + "\n".join("  " + ln for ln in m.layout.splitlines()))
    lines += ["notes:"] + [f"  - {n}" for n in m.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m anomaly3d.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_verify = sub.add_parser("verify", help="check a dataset folder against its manifest")
    p_verify.add_argument("dataset", choices=list(DATASETS))
    p_verify.add_argument("root")
    p_verify.add_argument("--deep", action="store_true", help="decode every file (slow)")
    p_verify.add_argument("--json", action="store_true", help="print the report as JSON")
    p_info = sub.add_parser("info", help="show a dataset's manifest")
    p_info.add_argument("dataset", choices=list(DATASETS))
    sub.add_parser("list", help="list the dataset ids")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(DATASETS))
        return 0
    if args.command == "info":
        try:
            print(_info(args.dataset))
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    report = verify(args.dataset, args.root, deep=args.deep)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
