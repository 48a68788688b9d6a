r"""Figures for the MINDE chapter: exact and learned information rates of joint Gaussians, and the
benchmark-mi table (:func:`benchmark_table`), and the stored flattening sweeps (:func:`flattening_table`).

Every function draws onto axes or a figure it is given (never pyplot state). The
three quantities are keyed the same way everywhere:

* ``"x"``: $S^{\mathbf X}$, the (neural or total) entropy of the unconditional field,
* ``"x|y"``: $S^{\mathbf X\mid\mathbf Y}$, the same for the conditional field,
* ``"I"``: $I(\mathbf X;\mathbf Y)$ (the MINDE integrand, Eq. 13/14).

Exact curves come from the closed forms of :mod:`kellynotes.gaussian`; learned curves
are :class:`kellynotes.entropy.RateCurve` objects measured on trained networks. Totals
are cut at the same ``s_min`` as the estimators, so the two are comparable.
"""

from collections.abc import Callable, Mapping

import numpy as np
from matplotlib.lines import Line2D

from .. import gaussian
from ..entropy import Estimate, RateCurve
from ..sde import VPSDE

__all__ = [
    "BENCHMARK_ESTIMATORS",
    "QUANTITIES",
    "benchmark_estimates",
    "benchmark_table",
    "benchmark_pairs_table",
    "comparison_table",
    "draw_benchmark_errors",
    "draw_flattening_sweeps",
    "draw_minde_explorer",
    "draw_rate_panels",
    "exact_rates",
    "exact_totals",
    "flattening_error_percent",
    "flattening_table",
    "flattening_verdicts",
    "minde_sliders",
    "nearest",
    "plot_flattening_totals",
    "plot_rates",
]

# key, mathtext label, colour
QUANTITIES = (
    ("x", r"$S^{X}$", "C0"),
    ("x|y", r"$S^{X|Y}$", "C1"),
    ("I", r"$I(X;Y)$", "C2"),
)

Make = Callable[[float], "gaussian.JointGaussian"]


def exact_rates(g: "gaussian.JointGaussian", sde: VPSDE, s) -> dict[str, np.ndarray]:
    """Exact rates (nats per unit $s$) of the three quantities on the times ``s``."""
    return {
        "x": gaussian.entropy_rate_x(g, sde, s),
        "x|y": gaussian.entropy_rate_x_given_y(g, sde, s),
        "I": gaussian.mutual_information_rate(g, sde, s),
    }


def exact_totals(g: "gaussian.JointGaussian", sde: VPSDE, s_min: float) -> dict[str, float]:
    """Exact totals (nats) of the three quantities, integrated from ``s_min`` to $T$."""
    return {
        "x": gaussian.total_entropy_x(g, sde, s_min),
        "x|y": gaussian.total_entropy_x_given_y(g, sde, s_min),
        "I": gaussian.mutual_information(g, sde, s_min),
    }


def nearest(values, value: float, *, log: bool = False) -> float:
    """The entry of ``values`` closest to ``value`` (in log scale if ``log``)."""
    values = list(values)
    if not values:
        raise ValueError("nearest: no values to choose from")
    distance = (lambda v: abs(np.log(v) - np.log(value))) if log else (lambda v: abs(v - value))
    return min(values, key=distance)


def _legend_handles(learned_label: str | None, hollow: bool = False):
    handles = [Line2D([], [], color=color, lw=2, label=label) for _, label, color in QUANTITIES]
    handles.append(Line2D([], [], color="0.2", lw=1.5, label="exact"))
    if learned_label:
        handles.append(Line2D([], [], color="0.2", ls="none", marker="o", ms=4,
                              mfc="none" if hollow else "0.2", label=learned_label))
    return handles


def plot_rates(ax, g: "gaussian.JointGaussian", *, sde: VPSDE = VPSDE(), s_min: float = 1e-3,
               learned: Mapping[str, RateCurve] | None = None, hollow: bool = False,
               legend: bool = False, learned_label: str = "learned", points: int = 200,
               errorbars: bool = True) -> None:
    r"""Exact rates $dS/ds$ of $S^X$, $S^{X|Y}$ and $I(X;Y)$ against $s$ (log–log), with
    ``learned`` rate curves as markers (hollow if ``hollow``, e.g. when they come from a
    model trained at a different setting). Error bars are 2 standard errors (drawn only
    with ``errorbars``; on a log axis they are usually smaller than the markers)."""
    s = np.geomspace(s_min, sde.T, points)
    exact = exact_rates(g, sde, s)
    top = max(float(np.max(v)) for v in exact.values())
    for key, _, color in QUANTITIES:
        ax.plot(s, exact[key], color=color, lw=1.6)
        if learned is not None and key in learned:
            curve = learned[key]
            if errorbars:
                ax.errorbar(curve.s, curve.rate, yerr=2 * curve.stderr, fmt="o", ms=3.5, color=color,
                            mfc="none" if hollow else color, elinewidth=0.8, capsize=0)
            else:
                ax.plot(curve.s, curve.rate, "o", ms=3.5, color=color, mfc="none" if hollow else color)
            top = max(top, float(np.max(curve.rate)))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(s_min, sde.T)
    ax.set_ylim(top * 1e-4, top * 2.5)
    ax.set_xlabel("forward time s")
    ax.set_ylabel("rate dS/ds (nats per unit s)")
    ax.grid(True, which="major", color="0.9", lw=0.6)
    if legend:
        ax.legend(handles=_legend_handles(learned_label if learned is not None else None, hollow),
                  loc="lower left", fontsize=7.5, ncol=2, framealpha=0.9)


def draw_rate_panels(fig, panels: Mapping[str, tuple["gaussian.JointGaussian", Mapping[str, RateCurve] | None]], *,
                     sde: VPSDE = VPSDE(), s_min: float = 1e-3, sharey: bool = True) -> list:
    """One :func:`plot_rates` panel per entry of ``panels`` (title -> (Gaussian, learned curves)),
    with one legend below them. Returns the axes."""
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=sharey))
    any_learned = False
    for ax, (title, (g, learned)) in zip(axes, panels.items()):
        plot_rates(ax, g, sde=sde, s_min=s_min, learned=learned)
        any_learned |= learned is not None
        ax.set_title(title, fontsize=10)
        if sharey and ax is not axes[0]:
            ax.set_ylabel("")
    if sharey:  # each panel set its own limits; keep the widest
        low = min(ax.get_ylim()[0] for ax in axes)
        high = max(ax.get_ylim()[1] for ax in axes)
        axes[0].set_ylim(low, high)
    fig.legend(handles=_legend_handles("learned (± 2 s.e.)" if any_learned else None), loc="outside lower center",
               ncol=5, fontsize=8.5, frameon=False)
    return list(axes)


def plot_flattening_totals(ax, make: Make, lambdas, *, sde: VPSDE = VPSDE(), s_min: float = 1e-3,
                           estimates: Mapping[float, Mapping[str, Estimate]] | None = None) -> None:
    r"""Exact totals against $\lambda_\delta$ for the Gaussians ``make(lambda_delta)``:
    $S^X_{\rm tot}$ and $S^{X|Y}_{\rm tot}$ cut at ``s_min`` (solid) and uncut (Eq. 56, dashed),
    the total correlation of $\mathbf X$ (dotted) and $I(X;Y)$ cut at ``s_min``, with
    ``estimates`` (λ_δ -> {"x", "x|y", "I"}: Estimate) as markers."""
    lambdas = np.asarray(sorted(lambdas), dtype=float)
    models = [make(value) for value in lambdas]
    cut = {key: np.array([exact_totals(g, sde, s_min)[key] for g in models]) for key, _, _ in QUANTITIES}
    uncut_x = np.array([gaussian.total_entropy_x(g) for g in models])
    uncut_xy = np.array([gaussian.total_entropy_x_given_y(g) for g in models])
    tc = np.array([gaussian.total_correlation(g.cov_x) for g in models])
    for key, label, color in QUANTITIES:
        ax.plot(lambdas, cut[key], color=color, lw=1.8, label=f"{label}, exact (cut at s = {s_min:g})")
    ax.plot(lambdas, uncut_x, color="C0", lw=1.2, ls="--", label=r"$S^{X}_{\rm tot}$ uncut (Eq. 56)")
    ax.plot(lambdas, uncut_xy, color="C1", lw=1.2, ls="--", label=r"$S^{X|Y}_{\rm tot}$ uncut")
    ax.plot(lambdas, tc, color="0.4", lw=1.2, ls=":", label="total correlation TC(X)")
    if estimates:
        first = True
        for value, found in sorted(estimates.items()):
            for key, _, color in QUANTITIES:
                if key in found:
                    ax.errorbar([value], [found[key].value], yerr=[2 * found[key].stderr], fmt="o", ms=5,
                                color=color, mec="k", mew=0.6, label="learned (one network)" if first else None)
                    first = False
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()  # flatter to the right
    ax.set_xlabel(r"$\lambda_\delta$ (variance of the $D_X - k$ flattened directions)")
    ax.set_ylabel("nats")
    ax.grid(True, which="major", color="0.9", lw=0.6)


def comparison_table(columns: Mapping[str, tuple[Mapping[str, float], Mapping[str, Estimate]]]) -> str:
    """A text table of exact totals against estimates, one column per experiment.

    ``columns`` maps a column title to ``(exact, estimated)``: ``exact`` has keys
    ``"x"``, ``"x|y"``, ``"I"``; ``estimated`` has ``"x"``, ``"x|y"``, ``"minde"`` and
    ``"difference"`` (:class:`~kellynotes.entropy.Estimate`). Estimates show
    ``value ± standard error (relative deviation from exact)``.
    """
    rows = [
        ("S^X      exact", "x", None),
        ("         S_NN (Eq. 12)", "x", "x"),
        ("S^X|Y    exact", "x|y", None),
        ("         S_NN (Eq. 12)", "x|y", "x|y"),
        ("I(X;Y)   exact", "I", None),
        ("         MINDE (Eq. 14)", "I", "minde"),
        ("         S_NN diff. (Eq. 52)", "I", "difference"),
    ]
    width = 24
    lines = [f"{'nats':29s}" + "".join(f"{title:>{width}s}" for title in columns)]
    for label, exact_key, estimate_key in rows:
        cells = []
        for exact, estimated in columns.values():
            truth = exact[exact_key]
            if estimate_key is None:
                cells.append(f"{truth:{width}.2f}")
            else:
                e = estimated[estimate_key]
                cells.append(f"{e.value:.2f} ± {e.stderr:.2f} ({100 * (e.value / truth - 1):+.1f}%)".rjust(width))
        lines.append(f"{label:29s}" + "".join(cells))
    return "\n".join(lines)


def draw_minde_explorer(fig, noise_std: float, lambda_delta: float, *, determinism: Make, flattening: Make,
                        learned_determinism: Mapping[float, Mapping[str, RateCurve]] | None = None,
                        learned_flattening: Mapping[float, Mapping[str, RateCurve]] | None = None,
                        sde: VPSDE = VPSDE(), s_min: float = 1e-3) -> None:
    r"""The two ways of making $S^{X|Y}_{\rm tot}$ large, side by side.

    Left: ``determinism(noise_std)`` (full-rank $\Sigma_X$, noise $\sigma_\varepsilon$). Right:
    ``flattening(lambda_delta)``. Exact rate curves are recomputed for the given values;
    learned curves (markers) are taken from the trained model with the *nearest* parameter
    in ``learned_determinism`` / ``learned_flattening`` (keyed by σ_ε and λ_δ), drawn
    hollow when that parameter differs from the slider value.
    """
    ax_det, ax_flat = fig.subplots(1, 2, sharey=False)
    for ax, make, value, learned_by, name, log in [
        (ax_det, determinism, noise_std, learned_determinism, "σ_ε", False),
        (ax_flat, flattening, lambda_delta, learned_flattening, "λ_δ", True),
    ]:
        g = make(value)
        learned, label, hollow = None, None, False
        if learned_by:
            trained = nearest(learned_by, value, log=log)
            learned = learned_by[trained]
            hollow = not np.isclose(trained, value, rtol=1e-6)
            label = f"learned at {name} = {trained:g}" + (" (nearest)" if hollow else "")
        plot_rates(ax, g, sde=sde, s_min=s_min, learned=learned, hollow=hollow, errorbars=False)
        totals = exact_totals(g, sde, s_min)
        kind = "determinism" if make is determinism else "flattening"
        ax.set_title(f"{kind}: {name} = {value:g}\n"
                     rf"exact, cut at s = {s_min:g}: $S^X$ = {totals['x']:.1f}, $S^{{X|Y}}$ = {totals['x|y']:.1f}, "
                     f"I = {totals['I']:.2f} nats", fontsize=9)
        ax.legend(handles=_legend_handles(label, hollow), loc="lower left", fontsize=7, ncol=2, framealpha=0.9)
    ax_flat.set_ylabel("")


def minde_sliders(noise_std: float = 0.6, lambda_delta: float = 1e-3):
    """ipywidgets sliders for :func:`draw_minde_explorer` (needs a live kernel)."""
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    return {
        "noise_std": widgets.FloatSlider(value=noise_std, min=0.05, max=1.5, step=0.05,
                                         description="noise σ_ε (determinism)", style=style),
        "lambda_delta": widgets.FloatLogSlider(value=lambda_delta, base=10, min=-6, max=0, step=0.25,
                                               description="λ_δ (flattening)", style=style),
    }


BENCHMARK_ESTIMATORS = (("kellynotes", "kellynotes (default)", "C2"), ("ksg", "KSG (k = 5, 10)", "C0"),
                        ("cca", "CCA (Gaussian)", "C1"), ("diffusion-mi", "diffusion-mi MINDE", "C3"))


def benchmark_estimates(rows: list[dict], name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(truth, estimate)`` in nats over the tasks of a benchmark-mi artifact's ``rows`` on which
    the estimator ``name`` (a key of :data:`BENCHMARK_ESTIMATORS`) ran."""
    if name == "kellynotes":
        pairs = [(row["truth"], row["value"]) for row in rows]
    else:
        pairs = [(row["truth"], row["peers"]["estimates"][name]) for row in rows if name in row["peers"]["estimates"]]
    truth, estimate = (np.array(values, np.float64) for values in zip(*pairs)) if pairs else (np.zeros(0),) * 2
    return truth, estimate


def gaussian_used(fit: dict | None) -> tuple[bool, ...]:
    """Per network (conditional first), whether the fitted Gaussian's field won on validation and was
    used, from ``settings["gaussian_baseline"]`` of an estimate (``None`` or no ``"used"``: nowhere)."""
    return tuple(bool(used) for used in np.atleast_1d((fit or {}).get("used", False)))


def _row_notes(row: dict) -> str:
    """ "  (Gaussian, warning)", or the part that applies, or "": whether the value is that of the fitted
    Gaussian (it won on validation; in the two-network mode, for either network) and whether the estimate warned."""
    used = gaussian_used(row.get("gaussian_baseline"))
    notes = (["Gaussian"] if any(used) else []) + (["warning"] if row["warnings"] else [])
    return f"  ({', '.join(notes)})" if notes else ""


def benchmark_table(rows: list[dict], costs: bool = True) -> str:
    """A text table of a benchmark-mi artifact: per task the exact I, each estimator's estimate with
    its error and (``costs``) its cost in seconds, then per estimator the mean and largest absolute
    error (nats). A row ends with "(Gaussian)" when kellynotes' value is that of the fitted Gaussian
    (it won on validation, :mod:`kellynotes.baseline`) and "(warning)" when the estimate warned.
    ``costs=False`` gives a narrower table (the book's)."""
    names = [name for name, _, _ in BENCHMARK_ESTIMATORS
             if name == "kellynotes" or any(name in row["peers"]["estimates"] for row in rows)]
    width, name_width = (21, 46) if costs else (15, 40)
    header = f"{'task':{name_width}s} {'D':>5s} {'truth':>6s}" + "".join(f" {name:>{width}s}" for name in names)
    lines = [header, "-" * len(header)]
    for row in rows:
        name = row["name"] if len(row["name"]) <= name_width else row["name"][:name_width - 1] + "…"
        line = f"{name:{name_width}s} {row['dim_x']:>2d}×{row['dim_y']:<2d} {row['truth']:6.3f}"
        for name in names:
            if name == "kellynotes":
                estimate, seconds = row["value"], row["seconds"]
            elif name in row["peers"]["estimates"]:
                estimate, seconds = row["peers"]["estimates"][name], row["peers"]["seconds"][name]
            else:
                line += " " * (width + 1)
                continue
            line += f" {estimate:6.3f} ({estimate - row['truth']:+.3f})" + (f" {seconds:4.0f}s" if costs else "")
        lines.append(line + _row_notes(row))
    lines.append("-" * len(header))
    for name in names:
        truth, estimate = benchmark_estimates(rows, name)
        error = estimate - truth
        lines.append(f"{name:14s} {error.size:2d} tasks   mean |error| {np.mean(np.abs(error)):.3f}   "
                     f"largest |error| {np.max(np.abs(error)):.3f}   mean error {np.mean(error):+.3f} nats")
    return "\n".join(lines)


def benchmark_pairs_table(rows: list[dict]) -> str:
    """A text table of a benchmark-mi-pairs artifact (``benchmarks/benchmark_mi_pairs.py``), under 90
    characters wide: per task, the default estimate at each number of pairs, of training steps and key
    seed, with its error (nats), which field gave it (the fitted Gaussian, or the network), the step
    whose network weights were kept, MINDE of the kept field on the held-out and on the training pairs
    (as errors), and the cost; "*" marks an estimate that warned."""
    lines = []
    for task_id in dict.fromkeys(row["task_id"] for row in rows):
        task = sorted((row for row in rows if row["task_id"] == task_id),
                      key=lambda row: (row["num_pairs"], row["steps"], row["seed"]))
        first = task[0]
        lines.append(f"{first['name']}, exact I {first['truth']:.3f} nats")
        header = (f"{'pairs':>7s} {'steps':>7s} {'seed':>4s} {'value ± s.e.':>14s} {'error':>7s} {'field':>8s} "
                  f"{'step':>6s} {'held-out':>8s} {'training':>8s} {'cost':>5s}")
        lines += [header, "-" * len(header)]
        for row in task:
            field = "Gaussian" if any(gaussian_used(row.get("gaussian_baseline"))) else "network"
            lines.append(f"{row['num_pairs']:7,d} {row['steps']:7,d} {row['seed']:4d} "
                         f"{row['value']:6.3f} ± {row['stderr']:.3f} {row['value'] - row['truth']:+7.3f} "
                         f"{field:>8s} {max(row['kept_steps']):6,d} "
                         f"{row['held_out_value'] - row['truth']:+8.3f} {row['train_value'] - row['truth']:+8.3f} "
                         f"{row['seconds']:4.0f}s" + (" *" if row["warnings"] else ""))
        lines.append("")
    lines += ["error: value − exact I; field: the one kept (the network only if ahead of the Gaussian",
              "on validation); step: that of the network's kept weights; held-out, training: MINDE",
              "of the kept field on those pairs, as errors; seed: the estimate's key (split, weights,",
              "draws); *: the estimate warned"]
    return "\n".join(lines)


def draw_benchmark_errors(ax, rows: list[dict]) -> None:
    """Signed error (estimate − exact I, nats) of every estimator on every task, tasks down the
    y axis in the artifact's order, with the ±0.1 nat band of the target."""
    positions = np.arange(len(rows))
    index = {row["task_id"]: i for i, row in enumerate(rows)}
    for offset, (name, label, color) in zip(np.linspace(-0.27, 0.27, len(BENCHMARK_ESTIMATORS)), BENCHMARK_ESTIMATORS):
        ran = [row for row in rows if name == "kellynotes" or name in row["peers"]["estimates"]]
        if not ran:
            continue
        truth, estimate = benchmark_estimates(ran, name)
        ax.plot(estimate - truth, [index[row["task_id"]] + offset for row in ran], "o", ms=3.5, color=color,
                label=label)
    ax.axvspan(-0.1, 0.1, color="0.9", zorder=0)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(positions, [row["name"] for row in rows], fontsize=6.5)
    ax.invert_yaxis()
    ax.set_xlabel("estimate − exact I (nats)")
    ax.legend(fontsize=7.5, loc="lower right")


# protocol of benchmarks/flattening.py -> colour, marker
FLATTENING_PROTOCOLS = {"paper": ("C1", "s"), "one network": ("C0", "o"), "whitened": ("C2", "D"),
                        "default": ("k", "x")}
# The target of the sweeps: |error| <= 2 % of I at every lambda_delta of the sweep down to 1e-3.
FLATTENING_TOLERANCE_PERCENT = 2.0
FLATTENING_LAMBDAS = (1e-1, 1e-2, 1e-3, 1e-4)
FLATTENING_TARGET_LAMBDAS = (1e-1, 1e-2, 1e-3)


def flattening_error_percent(row: dict) -> float:
    """Signed error of a flattening row's estimate, in % of the exact (uncut) $I$."""
    return 100.0 * (row["value"] / row["truth"] - 1.0)


def _sweep_order(rows: list[dict]) -> list[str]:
    """Sweep names, the smaller $D_X$ first."""
    return sorted({row["sweep"] for row in rows},
                  key=lambda sweep: (next(r["dim_x"] for r in rows if r["sweep"] == sweep), sweep))


def _protocol_order(rows: list[dict]) -> list[str]:
    known = [name for name in FLATTENING_PROTOCOLS if any(row["protocol"] == name for row in rows)]
    return known + sorted({row["protocol"] for row in rows} - set(known))


def flattening_table(rows: list[dict]) -> str:
    r"""A text table of the flattening artifact: per sweep, protocol and $\lambda_\delta$ the exact $I$ (uncut, and
    cut at $s_{\min}$ for the data as given: the most a network trained on the raw pairs can return), the
    estimate ± s.e., its signed error (% of the exact $I$), the steps at which the weights were kept, the
    seconds taken, and notes as in :func:`benchmark_table`."""
    header = (f"{'sweep':6s} {'protocol':12s} {'lambda':>7s} {'I exact':>8s} {'I cut':>7s} {'estimate':>15s} "
              f"{'err %':>7s} {'kept at':>12s} {'s':>5s}")
    lines = [header, "-" * len(header)]
    order, sweeps = _protocol_order(rows), _sweep_order(rows)
    for row in sorted(rows, key=lambda r: (sweeps.index(r["sweep"]), order.index(r["protocol"]), -r["lambda_delta"])):
        kept = ",".join(str(step) for step in row["kept_steps"])
        lines.append(f"{row['sweep']:6s} {row['protocol']:12s} {row['lambda_delta']:7.0e} {row['truth']:8.3f} "
                     f"{row['cut_truth']:7.3f} {row['value']:8.3f} ± {row['stderr']:.3f} "
                     f"{flattening_error_percent(row):+7.1f} {kept:>12s} {row['seconds']:5.0f}" + _row_notes(row))
    return "\n".join(lines)


def flattening_verdicts(rows: list[dict], target_lambdas=FLATTENING_TARGET_LAMBDAS) -> list[str]:
    r"""One line per (sweep, protocol): whether $|{\rm error}| \le 2\,\%$ at every $\lambda_\delta$ of
    ``target_lambdas`` (the target; a value not measured is named and the target is not met), the
    worst error among them, and the first $\lambda_\delta$ of the measured ones at which the error exceeds 2 %."""
    tolerance = FLATTENING_TOLERANCE_PERCENT
    lowest = min(target_lambdas)
    lines = []
    for sweep in _sweep_order(rows):
        for protocol in _protocol_order(rows):
            mine = sorted((r for r in rows if r["sweep"] == sweep and r["protocol"] == protocol),
                          key=lambda r: -r["lambda_delta"])
            if not mine:
                continue
            measured = {r["lambda_delta"]: r for r in mine}
            missing = [lam for lam in target_lambdas if not any(np.isclose(lam, m) for m in measured)]
            covered = [r for r in mine if any(np.isclose(r["lambda_delta"], lam) for lam in target_lambdas)]
            worst = max(covered, key=lambda r: abs(flattening_error_percent(r)), default=None)
            if missing:
                verdict = f"NOT MEASURED at lambda_delta={', '.join(f'{lam:g}' for lam in missing)}"
            else:
                met = abs(flattening_error_percent(worst)) <= tolerance
                verdict = (f"{'ok' if met else 'MISSED'} (worst {flattening_error_percent(worst):+.1f} % "
                           f"at lambda_delta={worst['lambda_delta']:g})")
            broken = next((r for r in mine if abs(flattening_error_percent(r)) > tolerance), None)
            first = "never" if broken is None else f"at lambda_delta={broken['lambda_delta']:g}"
            lines.append(f"{sweep} {protocol}: |err| <= {tolerance:g} % down to lambda_delta={lowest:g}: {verdict}; "
                         f"first above {tolerance:g} % (of {len(mine)} measured): {first}")
    return lines


def draw_flattening_sweeps(axes, rows: list[dict]) -> None:
    r"""One panel per sweep (``axes`` in order of $D_X$): the estimate of every protocol
    as a fraction of the exact $I$ against $\lambda_\delta$, with ± 2 s.e. bars and the ± 2 % target band."""
    for ax, sweep in zip(axes, _sweep_order(rows)):
        for offset, protocol in zip((0.9, 1.0, 1.1, 1.2), _protocol_order(rows)):
            color, marker = FLATTENING_PROTOCOLS.get(protocol, ("0.4", "x"))
            mine = sorted((r for r in rows if r["sweep"] == sweep and r["protocol"] == protocol),
                          key=lambda r: r["lambda_delta"])
            if not mine:
                continue
            lam = np.array([r["lambda_delta"] for r in mine]) * offset
            ratio = np.array([r["value"] / r["truth"] for r in mine])
            bars = np.array([2 * r["stderr"] / r["truth"] for r in mine])
            ax.errorbar(lam, ratio, yerr=bars, color=color, marker=marker, ms=5, lw=1, capsize=2, label=protocol)
        first = next(r for r in rows if r["sweep"] == sweep)
        band = FLATTENING_TOLERANCE_PERCENT / 100
        ax.axhspan(1 - band, 1 + band, color="0.88", zorder=0)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(r"$\lambda_\delta$ (variance of the thin directions)")
        ax.set_title(f"$D_X$ = {first['dim_x']}, $D_Y$ = {first['dim_y']}, $k$ = {first['k']}", fontsize=10)
    axes[0].set_ylabel("estimate / exact $I(\\mathbf{X};\\mathbf{Y})$")
    axes[0].legend(fontsize=8, loc="lower left")
