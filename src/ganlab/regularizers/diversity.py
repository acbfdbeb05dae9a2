"""Feature-diversity loss for G: push the embeddings of the fakes in a batch apart.

f_i = normalize(phi(G(z_i)) - mu); L_div = mean over pairs i != j of relu(f_i . f_j - tau)^p, added to
G's loss with `weight` (tau = 0, p = 1 by default; same_class=true only pairs fakes of one class).
No canonical paper defines it; this is ganlab's specification (shared/specs, section 6).

Centring (`center: real`, the default): mu is a running mean (decay 0.99) of the embeddings of the real
images, updated in every D step. Pooled features after a ReLU are all non-negative and share a large
common component, so uncentred cosines sit near 1 for any batch (0.999 measured on the critic's
features) and the term barely moves. Centring on the batch's own mean would not help either: centred
vectors sum to zero, so their mean pairwise cosine is about -1/(B-1) for a collapsed and a diverse
batch alike. A reference mean from the data keeps a collapsed batch at cosine ~1 and a diverse one
near 0 (tested). `center: none` is the uncentred form of the spec.

phi, the embedding, is frozen and never FID's Inception network (that would optimise the metric):
  resnet18       torchvision's ImageNet ResNet-18, 512-d pooled features of the image resized to
                 `resolution`. Weights: `weights=PATH`, else torch.hub's cache, else a download;
                 offline and without the file, the run stops naming the file and both places for it.
  discriminator  D's own pooled features (frozen in the G step). Not pretrained; the fallback where
                 no ResNet weights can be had.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer, StepContext
from ganlab.weights import state_dict

EMBEDDINGS = ("resnet18", "discriminator")
CENTERS = ("real", "none")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def resnet18_embedding(weights: str | None = None) -> nn.Module:
    """The frozen ImageNet ResNet-18 without its classifier: (B, 3, H, W) in ImageNet normalisation -> (B, 512)."""
    from torchvision.models import ResNet18_Weights, resnet18
    state = state_dict(ResNet18_Weights.IMAGENET1K_V1.url, weights, "regularizer.feature_diversity.weights",
                       "ResNet-18 (feature-diversity loss)",
                       "(Or use regularizer.feature_diversity.embedding=discriminator, which needs no weights.)")
    net = resnet18()
    net.load_state_dict(state)
    net.fc = nn.Identity()
    return net.eval().requires_grad_(False)


def diversity_loss(features: torch.Tensor, labels: torch.Tensor | None = None, tau: float = 0.0,
                   power: float = 1.0, center: torch.Tensor | None = None) -> torch.Tensor:
    """mean over pairs i != j (of one class when labels are given) of relu(cos(f_i - mu, f_j - mu) - tau)^power."""
    f = features.float()
    f = F.normalize(f - center if center is not None else f, dim=1)
    sim = f @ f.t()
    pairs = ~torch.eye(len(f), dtype=torch.bool, device=f.device)
    if labels is not None:
        pairs &= labels[:, None] == labels[None, :]
    return F.relu(sim[pairs] - tau).pow(power).mean() if pairs.any() else sim.sum() * 0


@REGULARIZERS.register("feature_diversity")
class FeatureDiversity(Regularizer):
    name = "feature_diversity"

    def __init__(self, weight: float = 0.1, embedding: str = "resnet18", weights: str | None = None,
                 resolution: int = 64, tau: float = 0.0, power: float = 1.0, same_class: bool = False,
                 center: str = "real", center_decay: float = 0.99):
        super().__init__()
        if embedding not in EMBEDDINGS:
            raise ValueError(f"unknown regularizer.feature_diversity.embedding '{embedding}'; available: {', '.join(EMBEDDINGS)}")
        if center not in CENTERS:
            raise ValueError(f"unknown regularizer.feature_diversity.center '{center}'; available: {', '.join(CENTERS)}")
        self.weight, self.embedding, self.resolution = weight, embedding, resolution
        self.center, self.center_decay = center, center_decay
        self.tau, self.power, self.same_class = tau, power, same_class
        # kept out of the module tree: frozen, never in D's optimizer or in checkpoints
        self._net = [resnet18_embedding(weights)] if embedding == "resnet18" else []
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def setup(self, d: nn.Module, stats, augmentations) -> None:
        dim = 512 if self.embedding == "resnet18" else getattr(d, "features_dim", None)
        if not dim:
            raise ValueError("feature_diversity with embedding=discriminator needs a D that returns pooled features")
        self.register_buffer("mu", torch.zeros(dim))         # running mean of the reals' embeddings
        self.register_buffer("mu_seen", torch.tensor(False))

    def embed(self, ctx: StepContext, images: torch.Tensor, out) -> torch.Tensor:
        """(B, F) embeddings: D's features from `out`, or the frozen ResNet-18 on `images`."""
        if self.embedding == "discriminator":
            return out.features
        net = self._net[0].to(images.device)
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        x = F.interpolate((x + 1) / 2, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        return net((x - self.mean) / self.std)

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.center == "real":
            with torch.no_grad():
                batch_mean = self.embed(ctx, ctx.real, ctx.out_real).float().mean(0)
                beta = torch.where(self.mu_seen, self.center_decay, 0.0)   # a plain copy the first time
                self.mu.lerp_(batch_mean, 1 - beta)
                self.mu_seen.fill_(True)
        return {}

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        labels = ctx.y_fake if self.same_class else None
        center = self.mu if self.center == "real" else None
        loss = diversity_loss(self.embed(ctx, ctx.fake, ctx.out_fake), labels, self.tau, self.power, center)
        return {"feature_diversity": self.weight * loss}
