"""Posterior plots: a PNG of the expected size that shows what the posterior says.

The posterior is a real PMC-ABC run (NumPy engine) on the height problem; the tests read the
figure's artists back and compare them with the posterior's own numbers.
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


@pytest.mark.parametrize("level", [0.9, 0.5])
def test_marginals_shade_the_credible_interval_and_mark_the_mean(posterior, level):
    fig = posterior.plot(level=level)
    bands = labelled(fig, f"{level:.0%} credible interval")
    means = labelled(fig, "posterior mean")
    interval = posterior.credible_interval(level)
    for name, band, mean in zip(posterior.names, bands, means):
        assert band.axes.get_xlabel() == name
        lower, upper = interval.loc[name]
        assert band.get_x() == pytest.approx(lower)
        assert band.get_x() + band.get_width() == pytest.approx(upper)
        assert mean.get_xdata()[0] == pytest.approx(posterior.mean()[name])
    assert len(bands) == len(means) == 2
    summary = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert f"{level:.0%} interval" in summary
    assert f"[{interval.loc['mu', 'lower']:.4g}, {interval.loc['mu', 'upper']:.4g}]" in summary


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
    with pytest.raises(ValueError, match=r"bins must be a positive int or None \(got 0\)"):
        posterior.plot(bins=0)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\) \(got 1.5\)"):
        posterior.plot(level=1.5)
