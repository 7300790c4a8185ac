"""`--keep-fp32 auto`: the fewest worst-ranked nodes to leave in float32 so the variant meets a tolerance.

The localisation ranks nodes by how much their error jumps over their inputs'. Keeping the top k
of that ranking in float32 is assumed to help more as k grows, so the smallest k that meets the
tolerance is found by bisection: about log2(candidates) re-quantizations instead of one per node.
"""

from __future__ import annotations

# Only this many of the worst-ranked nodes are candidates: past them the search keeps half the graph.
CANDIDATES = 16


def search(check, mode, samples, per_channel, target, directory, label):
    """(variant, report) for the smallest prefix of the ranking that meets `target`, and the steps taken."""
    from toolkit.quantize import Target
    from toolkit.quantize.variants import quantize

    first = quantize(check.model, mode, samples, per_channel, [], label)
    base = check.report(first, f"{mode} (all nodes)", directory, localize=True)
    if target is None:
        classifier = base.top1_agreement is not None
        target = Target("top1", 0.99) if classifier else Target("cosine", 0.999)
    steps = [
        f"target {target}; with every node quantized: cosine {base.cosine:.6f}"
        + (f", top-1 {base.top1_agreement:.1%}" if base.top1_agreement is not None else "")
    ]
    ranking = [error.node for error in base.worst_nodes if error.jump > 0][:CANDIDATES]
    if target.met(base) or not ranking:
        report = check.report(first, mode, directory)
        report.search = steps + ["already met: nothing kept in float32"]
        return first, report
    tried: dict[int, tuple] = {}

    def attempt(count: int):
        if count not in tried:
            kept = ranking[:count]
            variant = quantize(check.model, mode, samples, per_channel, kept, label)
            report = check.report(variant, mode, directory, localize=False)
            tried[count] = (variant, report, target.met(report))
            steps.append(
                f"keep {count} ({', '.join(kept)}): cosine {report.cosine:.6f}"
                + (f", top-1 {report.top1_agreement:.1%}" if report.top1_agreement is not None else "")
                + (" meets it" if tried[count][2] else "")
            )
        return tried[count]

    low, high = 0, len(ranking)  # low fails (base); find the smallest high that meets the target
    if not attempt(high)[2]:
        steps.append(
            f"keeping all {high} candidates does not meet {target}; the least-error variant is written"
        )
        chosen = max(tried, key=lambda k: (tried[k][1].top1_agreement or 0.0, tried[k][1].cosine))
    else:
        while high - low > 1:
            middle = (low + high) // 2
            if attempt(middle)[2]:
                high = middle
            else:
                low = middle
        chosen = high
    variant = tried[chosen][0]
    report = check.report(variant, f"{mode} + keep-fp32", directory)
    report.kept_fp32 = ranking[:chosen]
    report.search = steps
    return variant, report
