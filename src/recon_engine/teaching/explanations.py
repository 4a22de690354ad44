"""Short texts for students: what each panel and control shows, and why.

Keys are the explorer's views (``"mask"``, ``"kspace"``, ``"aliased"``, ``"recon"``,
``"difference"``, ``"psf"``, ``"gfactor"``), its control groups (``"pattern"``,
``"acceleration"``, ``"calibration"``, ``"partial_fourier"``, ``"resolution"``, ``"window"``,
``"noise"``, ``"spikes"``, ``"filter"``, ``"radial"``), the reconstructions (``"zero_filled"``,
``"sense"``, ``"grappa"``, ``"cs"``) and the movies (``"acquisition_movie"``,
``"iteration_movie"``). Plain text, a few sentences each, no markup.
"""

from __future__ import annotations

__all__ = ["EXPLANATIONS"]

EXPLANATIONS: dict[str, str] = {
    "mask": (
        "Which k-space samples were measured (white) and which were skipped (black). Each "
        "horizontal line is one phase-encoding step, one repetition time: skipping lines is what "
        "saves scan time. The acceleration R is the number of lines of a full scan divided by the "
        "number measured."
    ),
    "kspace": (
        "The measured k-space on a logarithmic scale, log(1 + |k|), all coils combined. The bright "
        "centre holds the contrast (low spatial frequencies), the faint edges hold fine detail "
        "and edges. Skipped samples are zero, noise shows as a grainy floor, a spike as one "
        "bright dot."
    ),
    "aliased": (
        "The image from the measured k-space with zeros in the gaps (zero-filled inverse FFT). "
        "Skipping every R-th line shrinks the field of view to FOV/R: the object folds over and "
        "R copies overlap, shifted by FOV/R. Skipping lines at random instead spreads the "
        "missing energy as noise-like, incoherent artefacts over the whole image."
    ),
    "recon": (
        "The reconstruction chosen below. Zero-filled shows the aliasing as it is; SENSE and "
        "GRAPPA use the different views of the receiver coils to unfold it; compressed sensing "
        "removes incoherent artefacts by asking for a sparse (simple) image."
    ),
    "difference": (
        "|recon| − |reference|: what the reconstruction got wrong compared with the fully "
        "sampled image, in the same units. Residual aliasing shows as ghosts, noise "
        "amplification as grain, resolution loss as bright edges. The NRMSE number sums it up."
    ),
    "psf": (
        "Point-spread function: the image of a single bright point after this sampling, on a "
        "log scale (0 = the peak, -4 = 10⁻⁴). Every image is the object blurred by this pattern. "
        "Regular undersampling gives copies as tall as the peak at multiples of FOV/R (aliasing); "
        "random sampling gives low side lobes spread everywhere (incoherent, noise-like); lower "
        "resolution or a window widens the central peak; a sharp k-space edge rings."
    ),
    "gfactor": (
        "SENSE geometry factor g: how much the unfolding amplifies noise at each pixel, beyond the "
        "√R lost by measuring fewer samples (SNR_R = SNR_full / (g √R)). g = 1 means no extra loss. "
        "g is high where the coils see the pixels that fold onto each other alike, often in the "
        "centre, and grows quickly with R."
    ),
    "pattern": (
        "Regular: every R-th line, coherent fold-over. Random: the same number of lines drawn at "
        "random. Variable density: random, but denser at the centre where the energy is. Poisson "
        "disc: random points in the phase-encoding plane of a 3D scan, no two too close. Random "
        "patterns are what compressed sensing needs."
    ),
    "acceleration": (
        "R: how many times fewer lines than a full scan. The scan gets R times shorter; the "
        "signal-to-noise ratio drops by at least √R."
    ),
    "calibration": (
        "Fully sampled central lines (autocalibration, ACS). They cost time but let GRAPPA learn "
        "its kernel and give coil sensitivities; they also carry most of the image energy."
    ),
    "partial_fourier": (
        "Partial Fourier measures only a bit more than half of k-space. For a real-valued object "
        "k-space is conjugate symmetric, k(−k) = k(k)*, so the missing half can be estimated from "
        "the measured one. MR images have a slowly varying phase, so POCS and homodyne first "
        "estimate it from the symmetric centre. Zero-filling instead blurs along the phase "
        "direction and leaves the phase wrong."
    ),
    "resolution": (
        "Keeping only the centre of k-space: fewer phase-encoding lines (phase resolution, "
        "faster) or fewer readout samples. Pixels get larger (blur) and the sharp cut-off of "
        "k-space rings at edges (Gibbs ringing, about 9 % overshoot next to a sharp edge)."
    ),
    "window": (
        "Apodisation: weighting k-space down smoothly towards the edge of what was measured "
        "(Hamming, Tukey). It removes Gibbs ringing at the price of a slightly wider point-spread "
        "function (a little more blur) and a little less noise."
    ),
    "noise": (
        "Thermal noise from the patient and the receiver, added to every k-space sample. SNR is "
        "the mean signal of the object over the noise standard deviation. Noise spreads evenly "
        "over the image because every sample contributes to every pixel."
    ),
    "spikes": (
        "A spike is one corrupt k-space sample (e.g. a discharge in the room). Being a single "
        "spatial frequency, it adds a plane wave: stripes across the whole image, with as many "
        "cycles per FOV as the spike's distance from the centre, perpendicular to its direction. "
        "Click on k-space to add one."
    ),
    "filter": (
        "Low-pass keeps only the centre of k-space: contrast stays, edges blur and ring. "
        "High-pass removes the centre: only edges and fine detail remain, the contrast is gone."
    ),
    "radial": (
        "Radial spokes through the centre instead of parallel lines. Every spoke measures the "
        "centre, so contrast is robust to motion; too few spokes give streaks instead of "
        "fold-over. About πN/2 spokes sample the edge of k-space fully; golden-angle ordering "
        "(111.25° steps) covers k-space evenly after any number of spokes."
    ),
    "zero_filled": (
        "Inverse FFT of the measured k-space with zeros where nothing was measured, coils "
        "combined with their sensitivities: fast, and shows the raw effect of undersampling."
    ),
    "sense": (
        "SENSE: each coil sees the folded image weighted by its own sensitivity. Knowing the "
        "sensitivities, the R pixels folded onto each other are separated by solving a small "
        "linear system (here iteratively, by conjugate gradients). Noise is amplified by the "
        "g-factor where the coils cannot tell the pixels apart."
    ),
    "grappa": (
        "GRAPPA fills the missing k-space lines of every coil from the measured neighbouring "
        "lines of all coils, with weights learned on the fully sampled calibration lines. It needs "
        "regular undersampling and enough calibration lines."
    ),
    "cs": (
        "Compressed sensing: among all images that agree with the measured samples, pick the "
        "sparsest one (few wavelet coefficients, or small total variation). It works when the "
        "artefacts are incoherent (random sampling) and the image is compressible. Too strong a "
        "regularisation makes the image cartoon-like."
    ),
    "acquisition_movie": (
        "k-space filled in the order the scanner measures it, with the image after each step. "
        "Linear order brings the contrast only when the centre arrives halfway; centric order "
        "shows it at once and adds detail later; EPI zig-zags through k-space in one shot; radial "
        "spokes build the image from blurry and streaky to sharp."
    ),
    "iteration_movie": (
        "Every iterate of the iterative reconstruction, from the first guess to the result. "
        "Conjugate gradients fix the smooth parts first and the fine detail later; stopping early "
        "acts like regularisation, running long brings the noise back (semi-convergence)."
    ),
}
