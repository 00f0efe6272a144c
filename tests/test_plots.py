"""Posterior plots: a PNG of the expected size that shows what the posterior says.

The posterior is a real PMC-ABC run (NumPy engine) on the height problem; the tests read the
figure's artists back and compare them with numbers computed here from the weighted particles,
not with the posterior's own methods, so a wrong credible interval fails them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abcspark import PMCABC, Posterior, RejectionABC
from abcspark.examples import height_problem

GENERATIONS = 3


@pytest.fixture(scope="module")
def posterior():
    prior, simulate, observed = height_problem()
    pmc = PMCABC(
        prior, simulate, n_particles=300, generations=GENERATIONS, engine="numpy", progress=False
    )
    return pmc.run(observed, seed=2)


def labelled(fig, label):
    """The artists (lines, patches) of the figure with this legend label."""
    return [
        artist
        for ax in fig.axes
        for artist in [*ax.lines, *ax.patches]
        if artist.get_label() == label
    ]


def band(fig, name, level):
    """The (lower, upper) edges of the shaded credible interval on ``name``'s marginal."""
    (patch,) = [
        p for p in labelled(fig, f"{level:.0%} credible interval") if p.axes.get_xlabel() == name
    ]
    return np.array([patch.get_x(), patch.get_x() + patch.get_width()])


def summary_text(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def axis_with_xlabel(fig, xlabel, ylabel):
    (ax,) = [a for a in fig.axes if a.get_xlabel() == xlabel and a.get_ylabel() == ylabel]
    return ax


def test_png_has_the_expected_size_and_is_not_blank(posterior, tmp_path):
    from matplotlib.image import imread

    path = tmp_path / "posterior.png"
    posterior.plot(str(path), dpi=80)
    pixels = imread(str(path))
    # 2 parameters: a 3-column grid (the history has 3 panels), 2 + 1 rows of 3.2 x 2.8 inches.
    assert pixels.shape[:2] == (round(2.8 * 3 * 80), round(3.2 * 3 * 80))
    ink = (pixels[:, :, :3] < 0.9).any(axis=2)
    assert 0.05 < ink.mean() < 0.6
    colours = np.unique((pixels[:, :, :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # filled histograms, bands and points, not a few lines of text


def test_axes_are_labelled_with_parameter_names_and_history(posterior):
    fig = posterior.plot()
    labels = {(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes}
    assert {("mu", "density"), ("sigma", "density"), ("mu", "sigma")} <= labels
    assert {
        ("generation", "epsilon"),
        ("generation", "acceptance rate"),
        ("generation", "effective sample size"),
    } <= labels
    assert f"{len(posterior.samples):,} particles" in fig.get_suptitle()


def test_the_default_band_holds_the_middle_95_percent_of_equally_weighted_draws():
    draws = np.random.default_rng(3).normal([0.0, 10.0], [1.0, 3.0], size=(400, 2))
    post = Posterior(pd.DataFrame(draws, columns=["a", "b"]), np.ones(400), np.zeros(400))
    fig = post.plot()
    # Equal weights put the k-th smallest of n draws at cumulative weight (k - 0.5) / n, which is
    # numpy's "hazen" quantile; 2.5% lies below the band and 2.5% above.
    expected = np.quantile(draws, [0.025, 0.975], axis=0, method="hazen")
    np.testing.assert_allclose(band(fig, "a", 0.95), expected[:, 0])
    np.testing.assert_allclose(band(fig, "b", 0.95), expected[:, 1])
    assert f"[{expected[0, 0]:.4g}, {expected[1, 0]:.4g}]" in summary_text(fig)


@pytest.mark.parametrize("level", [0.9, 0.5])
def test_marginals_shade_the_credible_interval_and_mark_the_mean(posterior, level):
    fig = posterior.plot(level=level)
    weights, tail = posterior.weights, (1 - level) / 2
    for name in posterior.names:
        values = posterior.samples[name].to_numpy()
        lower, upper = band(fig, name, level)
        # Each side of the band holds (1 - level) / 2 of the weight, up to the weight of the
        # particle next to the edge (an edge falls between particles).
        assert weights[values < lower].sum() == pytest.approx(tail, abs=weights.max())
        assert weights[values > upper].sum() == pytest.approx(tail, abs=weights.max())
        (mean,) = [
            line for line in labelled(fig, "posterior mean") if line.axes.get_xlabel() == name
        ]
        assert mean.get_xdata()[0] == pytest.approx(np.average(values, weights=weights))
        assert f"[{lower:.4g}, {upper:.4g}]" in summary_text(fig)
    assert f"{level:.0%} interval" in summary_text(fig)


def test_histograms_are_weighted(posterior):
    fig = posterior.plot(bins=12)
    ax = axis_with_xlabel(fig, "sigma", "density")
    bars = [p for p in ax.patches if not p.get_label().endswith("credible interval")]
    heights = np.array([bar.get_height() for bar in bars])
    expected, _ = np.histogram(
        posterior.samples["sigma"], bins=12, weights=posterior.weights, density=True
    )
    np.testing.assert_allclose(heights, expected)


def test_history_panels_show_the_run_history(posterior):
    fig = posterior.plot()
    history = posterior.history
    epsilon = axis_with_xlabel(fig, "generation", "epsilon")
    (line,) = epsilon.lines
    # Generation 0 has epsilon = inf: noted in the title, not drawn.
    np.testing.assert_array_equal(line.get_xdata(), history["generation"][1:])
    np.testing.assert_array_equal(line.get_ydata(), history["epsilon"][1:])
    assert "generation 0" in epsilon.get_title()
    rate = axis_with_xlabel(fig, "generation", "acceptance rate")
    np.testing.assert_array_equal(rate.lines[0].get_ydata(), history["acceptance_rate"])
    ess = axis_with_xlabel(fig, "generation", "effective sample size")
    assert ess.get_ylim()[0] == 0


def test_reference_values_are_marked(posterior):
    fig = posterior.plot(reference={"mu": 170.0, "sigma": 15.0}, reference_label="truth")
    marks = sorted(line.get_xdata()[0] for line in labelled(fig, "truth"))
    assert marks == [15.0, 170.0]
    pair = axis_with_xlabel(fig, "mu", "sigma")
    crosses = [line for line in pair.lines if line.get_marker() == "x"]
    assert [(c.get_xdata()[0], c.get_ydata()[0]) for c in crosses] == [(170.0, 15.0)]


def test_names_selects_parameters(posterior):
    fig = posterior.plot(names=["sigma"])
    xlabels = [ax.get_xlabel() for ax in fig.axes]
    assert "sigma" in xlabels and "mu" not in xlabels


def test_without_a_history_there_is_no_history_row(tmp_path):
    from matplotlib.image import imread

    prior, simulate, observed = height_problem()
    rejection = RejectionABC(prior, simulate, engine="numpy").run(
        observed, quantile=0.1, n_simulations=2000, seed=1
    )
    assert len(rejection.history) == 1
    path = tmp_path / "rejection.png"
    fig = rejection.plot(str(path), dpi=50)
    assert "generation" not in [ax.get_xlabel() for ax in fig.axes]
    assert imread(str(path)).shape[:2] == (round(2.8 * 2 * 50), round(3.2 * 3 * 50))


def test_one_parameter_posterior_plots():
    draws = np.random.default_rng(0).normal(size=400)
    post = Posterior(pd.DataFrame({"x": draws}), np.ones(400), np.zeros(400))
    fig = post.plot()
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()] == ["x"]


def test_bad_options_are_refused(posterior):
    with pytest.raises(ValueError, match=r"names must name parameters of the posterior"):
        posterior.plot(names=["mu", "tau"])
    with pytest.raises(ValueError, match=r"reference must name parameters .*got unknown \['nu'\]"):
        posterior.plot(reference={"nu": 1.0})
    with pytest.raises(ValueError, match=r"bins must be a positive int \(got 0\)"):
        posterior.plot(bins=0)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\) \(got 1.5\)"):
        posterior.plot(level=1.5)
