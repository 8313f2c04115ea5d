"""Draw the bar chart of a results JSON (run by bench/.venvs/plot's python).

    bench/.venvs/plot/bin/python bench/plot.py results/X.json results/X.png
"""

from __future__ import annotations

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OURS = "#d62728"
PEER = "#7f7f7f"
CEILING = "#c7c7c7"


def main(json_path: str, png_path: str) -> None:
    with open(json_path) as f:
        document = json.load(f)
    rows = [r for r in document["summary"] if r["rate"]]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    cols = 3
    nrows = math.ceil(len(scenarios) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 2.6 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, scenarios, strict=False):
        group = [r for r in rows if r["scenario"] == name]
        names = [r["server"] for r in group]
        rates = [r["rate"] for r in group]
        colours = [OURS if n.startswith("fastsnake") else CEILING if n == "ceiling" else PEER
                   for n in names]
        ax.barh(names, rates, color=colours)
        ax.invert_yaxis()
        websocket = document["scenarios"].get(name, {}).get("websocket", False)
        unit = "messages/s" if websocket else "requests/s"
        ax.set_title(f"{name} ({unit})", fontsize=10)
        ax.tick_params(labelsize=8)
        for y, rate in enumerate(rates):
            ax.text(rate, y, f" {rate:,.0f}", va="center", fontsize=7)
        ax.set_xlim(0, max(rates) * 1.3)
    for ax in list(axes.flat)[len(scenarios):]:
        ax.axis("off")
    machine = document["machine"]
    fig.suptitle(f"fastsnake vs peers: 1 worker on core 0, load on core 1 - "
                 f"{machine['cpu_model']}, Python {machine['python']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
