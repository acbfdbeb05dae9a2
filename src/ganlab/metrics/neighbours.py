"""Metrics on nearest-neighbour distances and the FID's sampling noise, on features already in memory.

Distances are computed with torch-fidelity's batched `calc_cdist_part` (the P/R code's own), in row
blocks sized so that one block of the distance matrix stays under `MAX_BLOCK` floats: 10k generated x
50k training features never need the full 10k x 50k matrix at once.

  density/coverage  Naeem et al. 2020, as `prdc.compute_prdc` (strict `<` against the k-NN radius of
                    each real sample, the radius counting the sample itself as its 0th neighbour).
  memorization      distance from every generated sample to its nearest training sample, compared with
                    the training set's own nearest-neighbour distances (train-to-train, self excluded):
                    mem_fraction = share of samples closer than the `percentile`-th percentile of those;
                    mem_median_ratio = median over samples of d(g, nn(g)) / d_rr(nn(g)) (< 1: closer to
                    its training neighbour than that image is to any other training image; the
                    authenticity test of Alaa et al. 2022).
  fid bootstrap     FID of resampled generated features against the fixed reference statistics.
"""
from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_prc import calc_cdist_part

MAX_BLOCK = 2 ** 25          # floats per block of distances (128 MiB in float32)


def _rows(n_cols: int) -> int:
    return max(1, MAX_BLOCK // max(n_cols, 1))


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance of each row of x (N, F) to its k-th nearest other row (k=1: the nearest)."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {len(x)}")
    x = x.float()
    return torch.cat([calc_cdist_part(b, x, len(x)).kthvalue(k + 1, dim=1).values for b in x.split(_rows(len(x)))])


def nearest(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of a (M, F): the distance to its nearest row of b (N, F) and that row's index."""
    a, b = a.float(), b.float()
    dist, idx = [], []
    for block in a.split(_rows(len(b))):
        d = calc_cdist_part(block, b, len(b))
        m = d.min(dim=1)
        dist.append(m.values)
        idx.append(m.indices)
    return torch.cat(dist), torch.cat(idx)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict:
    """real (N, F), fake (M, F) -> {'density', 'coverage'} (Naeem et al. 2020, prdc's definitions)."""
    real, fake = real.float(), fake.float()
    radii = knn_radii(real, k)                                    # (N,)
    inside = 0
    closest = torch.full((len(real),), float("inf"))              # each real's nearest fake
    for block in fake.split(_rows(len(real))):
        d = calc_cdist_part(block, real, len(real))               # (b, N)
        inside += int((d < radii[None]).sum())
        closest = torch.minimum(closest, d.min(dim=0).values)
    return {"density": inside / (k * len(fake)), "coverage": float((closest < radii).float().mean())}


def memorization(train: torch.Tensor, fake: torch.Tensor, percentile: float = 5.0) -> dict:
    """train (N, F), fake (M, F) -> mem_fraction, mem_median_ratio, mem_threshold, and per-sample
    `distances` / `nearest` (M,) for the closest-pairs figure."""
    if not 0 < percentile < 100:
        raise ValueError(f"eval.mem_percentile must be in (0, 100), got {percentile}")
    d_rr = knn_radii(train, 1)                                    # (N,) train-to-train, self excluded
    d_gt, nn = nearest(fake, train)                               # (M,)
    threshold = float(np.percentile(d_rr.numpy(), percentile))
    ratio = d_gt / d_rr[nn].clamp_min(1e-12)
    return {"mem_fraction": float((d_gt < threshold).float().mean()), "mem_median_ratio": float(ratio.median()),
            "mem_threshold": threshold, "distances": d_gt, "nearest": nn}


def fid_bootstrap(fake: torch.Tensor, mu_r: np.ndarray, sigma_r: np.ndarray, resamples: int = 200,
                  level: float = 0.95, seed: int = 0, device="cpu") -> tuple[float, float]:
    """Percentile interval of the FID over `resamples` bootstrap draws of the generated features (M, F).

    Tr sqrt(S_r S_g) = sum sqrt(eig(A S_g A)) with A = S_r^(1/2), so one symmetric eigen-solve per
    draw (on `device`) replaces scipy's sqrtm; the draws reweight the rows (multinomial counts)."""
    dev = torch.device(device)
    x = fake.double().to(dev)                                     # (M, F)
    mu_r_t = torch.as_tensor(mu_r, dtype=torch.float64, device=dev)
    s_r = torch.as_tensor(sigma_r, dtype=torch.float64, device=dev)
    ev, vec = torch.linalg.eigh(s_r)
    a = (vec * ev.clamp_min(0).sqrt()) @ vec.T                    # S_r^(1/2)
    xa = x @ a                                                    # (M, F): rows already multiplied by A
    tr_r = torch.trace(s_r)
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    out = []
    for _ in range(resamples):
        w = torch.bincount(torch.randint(n, (n,), generator=gen), minlength=n).to(dev, torch.float64)   # (M,)
        mu = w @ x / n
        c = x - mu
        tr_g = w @ (c * c).sum(1) / (n - 1)                       # Tr of the resample's covariance, no (F, F) product
        ca = xa - mu @ a
        m = (ca * w[:, None]).T @ ca / (n - 1)                    # A S_g A
        root = torch.linalg.eigvalsh(m).clamp_min(0).sqrt().sum()
        out.append(float(((mu - mu_r_t) ** 2).sum() + tr_g + tr_r - 2 * root))
    lo, hi = np.percentile(out, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
