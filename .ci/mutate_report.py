"""Print one line per mutated module, and one for all, from `mutmut results --all true`."""

import re
import subprocess
import sys
from collections import Counter, defaultdict

out = subprocess.run(
    [sys.executable, "-m", "mutmut", "results", "--all", "true"],
    capture_output=True,
    text=True,
    check=True,
).stdout
by_module: dict[str, Counter] = defaultdict(Counter)
for line in out.splitlines():
    name, _, status = line.strip().rpartition(": ")
    if "__mutmut_" not in name:
        continue
    # Functions are "module.x_name__mutmut_N", methods "module.xǁClassǁname__mutmut_N".
    module = re.split(r"\.x(?:_|ǁ)", name, maxsplit=1)[0].replace(".", "/") + ".py"
    by_module[module][status] += 1
total = Counter()
for module, counts in sorted(by_module.items()):
    total.update(counts)
    n = sum(counts.values())
    print(
        f"mutate module={module} killed={counts['killed']} survived={counts['survived']} "
        f"total={n} score={100 * counts['killed'] / n:.1f}"
    )
n = sum(total.values())
print(
    f"mutate all killed={total['killed']} survived={total['survived']} total={n} "
    f"score={100 * total['killed'] / max(n, 1):.1f}"
)
