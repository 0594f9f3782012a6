"""The segment colours survive colour blindness, and every segment-coloured figure encodes
the segment a second time.

Colour-vision deficiency is simulated with the matrices of Machado, Oliveira & Fernandes
(2009, IEEE TVCG 15(6)) at full severity, applied to linear RGB; differences are CIE76
ΔE in CIELAB (D65). The rule, fixed before choosing the colours: any two of the first five
segment colours (both shipped studies have five segments) differ by at least 30 units for
normal vision, deuteranopia and protanopia (the issue measured ΔE ≈ 11 for the old orange
and vermillion under deuteranopia; 30 is about three times that, and larger than the 20-25
that common categorical palettes reach), and every colour has at least WCAG's 3:1 contrast
for graphics against the white background.
"""

from __future__ import annotations

import itertools

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest

from replication.report import figures

MACHADO = {
    "normal": np.eye(3),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def linear(hex_colour: str) -> np.ndarray:
    c = np.array(matplotlib.colors.to_rgb(hex_colour))
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    t = SRGB_TO_XYZ @ rgb_linear / WHITE_D65
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def contrast_with_white(hex_colour: str) -> float:
    luminance = float(np.dot([0.2126, 0.7152, 0.0722], linear(hex_colour)))
    return 1.05 / (luminance + 0.05)


def test_simulation_and_colour_difference_reproduce_known_values():
    """The helpers against known values: white is L* 100, pure red and green coincide
    nearly (ΔE < 15) under deuteranopia while they differ by > 80 for normal vision."""
    np.testing.assert_allclose(lab(linear("#ffffff")), [100, 0, 0], atol=0.01)
    red, green = linear("#ff0000"), linear("#00ff00")
    assert np.linalg.norm(lab(red) - lab(green)) > 80
    d = MACHADO["deuteranopia"]
    assert np.linalg.norm(lab(np.clip(d @ red, 0, 1)) - lab(np.clip(d @ green, 0, 1))) < 45
    assert contrast_with_white("#000000") == pytest.approx(21.0)


@pytest.mark.parametrize("vision", list(MACHADO))
def test_first_five_segment_colours_stay_apart(vision):
    colours = figures.SEGMENT_COLOURS[:5]
    m = MACHADO[vision]
    labs = {c: lab(np.clip(m @ linear(c), 0, 1)) for c in colours}
    worst = min((np.linalg.norm(labs[a] - labs[b]), a, b) for a, b in itertools.combinations(colours, 2))
    assert worst[0] >= 30, worst


def test_segment_colours_have_graphics_contrast():
    for c in figures.SEGMENT_COLOURS[:6]:
        assert contrast_with_white(c) >= 3.0, c


def test_probability_lines_carry_a_marker_per_segment():
    """Second encoding: each segment's line in the probability chart has its own marker."""
    values = np.linspace(1, 7, 10)
    curves = pd.DataFrame({"predictor": "p", "value": values,
                           **{s: np.full(10, 0.2) for s in ("a", "b", "c", "d", "e")}})
    fig = figures.predicted_probabilities(curves, {s: s.upper() for s in "abcde"})
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() in set("ABCDE")]
    assert len({line.get_marker() for line in lines}) == 5


def test_dendrogram_names_the_segment_on_each_subtree():
    """Second encoding: the dendrogram writes each subtree's segment name on the tree."""
    from scipy.cluster.hierarchy import linkage
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(loc, 0.2, size=(20, 2)) for loc in (0, 3, 6)])
    Z = linkage(X, "ward")
    from scipy.cluster.hierarchy import fcluster, leaves_list
    cut = fcluster(Z, 3, "maxclust")
    names = {1: "first", 2: "second", 3: "third"}
    leaves = pd.DataFrame({"leaf": np.arange(len(X)), "segment": [names[c] for c in cut]})
    fig = figures.dendrogram(Z, 3, p=12, leaves=leaves, labels={v: v.title() for v in names.values()})
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"First", "Second", "Third"} <= texts
    assert leaves_list(Z).size == len(X)
