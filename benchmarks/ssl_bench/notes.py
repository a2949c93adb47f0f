"""Analysis of the benchmark results, shown beside the numbers it explains.

:data:`NOTES` is keyed by ``(dataset, row label)``. The report prints a note
only while its row fails a criterion, after the measured facts (steps, loss,
RankMe), and fills in the placeholders of ``report.note_fields`` from the row
(``{loss_last:.3f}``, ``{knn_gain:+.1f}``, ``{supervised_gap:.1f}``, ...), so a
note cannot quote numbers other than those of the results it stands beside.
:data:`ANALYSIS` holds one paragraph per dataset on the table as a whole.
"""

_SMALL_GAIN = (
    "kNN gains {knn_gain:+.1f} points over random initialisation in {steps} "
    "steps, too little for its 1% probe to match supervised training on the "
    "same labels ({supervised_gap:.1f} points short)."
)
_UNIFORM_DINO = (
    "The loss ended at {loss_last:.3f}, about ln 1,024 = 6.931: the "
    "cross-entropy of uniform predictions over the 1,024 outputs. The centred "
    "teacher, its temperature still warming up (0.04 to 0.07 over the first 30% "
    "of the run), gives near-uniform targets, so the student gets almost no "
    "signal in {steps} steps; each costs about twice a SimCLR step (2 global + "
    "4 local crops), hence only {epochs:g} epochs."
)
_BYOL = (
    "BYOL's targets come from an EMA teacher that starts as the random network; "
    "in {steps} steps the online network mostly learns to match it (the loss, "
    "-1 at perfect agreement, went from {loss_first:.2f} to {loss_last:.2f}) "
    "and kNN moves {knn_gain:+.1f} points."
)

NOTES: dict[tuple[str, str], str] = {
    ("cifar10", "barlowtwins"): _SMALL_GAIN
    + " RankMe fell to {rankme:.1f} from {random_rankme:.1f} while the "
    "cross-correlation loss is far from converged ({loss_first:.0f} to "
    "{loss_last:.0f}): after {epochs:g} epochs the objective has not yet spread "
    "the variance over the feature dimensions.",
    ("cifar10", "byol"): _BYOL
    + " Its features also lose rank (RankMe {rankme:.1f} vs {random_rankme:.1f}),"
    " and the 1% probe is {supervised_gap:.1f} points below supervised training.",
    ("cifar10", "dino"): _UNIFORM_DINO,
    ("cifar10", "lejepa"): _SMALL_GAIN
    + " It has the fewest steps of the ResNet rows ({epochs:g} epochs): each "
    "carries 2 global and 4 local crops.",
    ("cifar10", "ijepa"): (
        "That is all the budget buys at {images_per_s:.0f} images/s: each "
        "step runs the target encoder on all "
        "64 patches, the context encoder and a predictor pass per target block. "
        "The row measures cost, not learning; on a smaller ViT I-JEPA's kNN "
        "accuracy beats a random one after a few hundred steps "
        "(tests/methods/test_ijepa.py)."
    ),
    ("cifar10", "mae"): (
        "{steps} steps of 64 images ({epochs:g} epochs) are what the budget buys "
        "for ViT-Tiny on 64 patches ({images_per_s:.0f} images/s). The "
        "reconstruction loss falls ({loss_first:.3f} to {loss_last:.3f}) but the "
        "encoder's features lose rank (RankMe {rankme:.1f} vs {random_rankme:.1f}) "
        "and kNN accuracy; MAE features are weak under kNN even after long "
        "training (11.2% kNN after 100 ImageNet epochs in lightly's benchmark). "
        "The row is compared with the ViT at initialisation only."
    ),
    ("cifar10", "moco"): (
        "The loss rises ({loss_first:.2f} to {loss_last:.2f}) because the queue "
        "fills up to 4,096 negatives (chance level ln 4,097 = 8.32), not because "
        "training diverges. "
    )
    + _SMALL_GAIN,
    ("cifar10", "mocov3"): _SMALL_GAIN,
    ("cifar10", "msn"): _SMALL_GAIN
    + " Its target network, like BYOL's and DINO's, starts as the random "
    "network, and on this ResNet row only the focal views, not patch masking, "
    "make its anchors harder than the target.",
    ("cifar10", "simsiam"): (
        "Dimensional collapse: RankMe {rankme:.1f} against {random_rankme:.1f} "
        "at initialisation, with the loss near its floor of -1 "
        "({loss_last:.2f}): predictor and projector found a low-rank solution "
        "within {steps} steps. SimSiam is sensitive to the learning rate; "
        "lightly's CIFAR-10 benchmark keeps it at 0.06 without batch scaling "
        "for stability, where these rows all use 0.1 at batch 128."
    ),
    ("cifar10", "swav"): (
        "The loss ended at {loss_last:.3f}, about ln 256 = 5.545: the value for "
        "uniform assignments to the 256 prototypes. Sinkhorn codes of a barely "
        "trained network are near uniform, so {steps} steps ({epochs:g} epochs, "
        "the prototypes frozen for the first 5%) give little signal."
    ),
}

NOTES |= {
    ("fashion_mnist", "byol"): _BYOL,
    ("fashion_mnist", "dino"): _UNIFORM_DINO
    + " RankMe {rankme:.1f} against {random_rankme:.1f} at initialisation: the "
    "features are close to collapse.",
}

ANALYSIS: dict[str, str] = {
    "cifar10": (
        "Two CPU-minutes buy 0.026 (I-JEPA) to 1.06 epochs. In that regime the "
        "methods "
        "whose loss gives a useful gradient from the first step beat random "
        "initialisation: contrastive ones (SimCLR, NNCLR, MoCo, MoCo v3), TiCo's "
        "contrast with a running covariance, and those regularising the "
        "statistics of the batch (VICReg, LeJEPA, MMCR); the strongest also beat "
        "supervised training on 1% of the labels. Barlow Twins, whose biases and "
        "norms learn at 0.024 times the learning rate as in its paper, has not "
        "yet. Methods whose targets must first become informative, from an EMA "
        "teacher alone (BYOL, DINO, MSN) or a clustering (SwAV), or that can take "
        "a low-rank shortcut (SimSiam), have barely started to learn; in "
        "lightly's 200-epoch CIFAR-10 benchmark BYOL, DINO, SwAV and SimSiam all "
        "end between 76% and "
        "87% kNN top-1. These rows therefore rank how "
        "quickly methods start, not where they end. Raw pixels beat most rows: "
        "the standard ResNet stem reduces 32x32 images to 8x8 before the first "
        "block, and less than one epoch of pretraining does not recover what "
        "that loses; the CIFAR stem would cost about ten times more per step "
        "on this CPU."
    ),
    "fashion_mnist": (
        "Random features of the narrow ResNet are already strong on "
        "Fashion-MNIST (centred gray garments on a black background), and raw "
        "pixels stronger still, so pretraining has to add a lot within three "
        "CPU-minutes (0.48 to 0.96 epochs). SimCLR and VICReg do; BYOL and "
        "DINO fail for the reasons they fail on CIFAR-10. The methods' default "
        "augmentations were designed for colour images: on gray ones colour "
        "jitter reduces to brightness and contrast and random grayscale does "
        "nothing, so the two views differ mostly by crop and flip."
    ),
}
