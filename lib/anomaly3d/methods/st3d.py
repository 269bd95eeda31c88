"""3D-ST — 3D Student-Teacher anomaly detection (Bergmann & Sattlegger, WACV 2023). No official code exists.

1. **Teacher pretraining** (Sec. 3.1): a dense local-feature network T (:class:`anomaly3d.nn.LocalGeometricNet`:
   translation-invariant local feature aggregation, eq. 1, in residual blocks) and a decoder D are trained on
   synthetic scenes (:mod:`anomaly3d.data.scenes`: 10 objects, random rotations and positions) so that D
   reconstructs, from the descriptor ``f_p`` of a randomly chosen point, its receptive field ``R(p)`` (eq. 2)
   centred on its mean (Chamfer loss, eq. 3). Coordinates are divided by the scale ``s`` (eq. 4) of the
   pretraining set. The checkpoint with the lowest validation loss is kept.
2. **Student training** (Sec. 3.2): a student S of the same architecture, randomly initialised, regresses the
   teacher's descriptors normalised by their mean ``mu`` and standard deviation ``sigma`` over the training set
   (eq. 5) on anomaly-free clouds scaled by the training set's own ``s``. The student with the lowest validation
   loss is kept (the validation split when the dataset has one, else the training loss).
3. **Scores**: ``||f_S(p) - (f_T(p) - mu) / sigma||`` per point. The paper evaluates localisation only; the object
   score here is the **maximum** point score (documented choice). Clouds are reduced to ``n_points`` by FPS (as
   the paper's 64,000); the other points take the score of their nearest scored point, and on organized
   (MVTec 3D-AD) samples the anomaly map puts the scored points on the image and fills every other pixel by
   harmonic interpolation (the paper's protocol).

Choices the paper leaves open (all documented in the notebook too): Figure 4's layer widths (we follow RandLA-Net's
proportions, see :mod:`anomaly3d.nn.lfa`); the Chamfer distance is the squared-L2 one (Point-MAE's); "rotation
augmentation" (Table 4) rotates every training cloud of the student by a random rotation each epoch; for
"random teacher" the teacher keeps its random initialisation (no pretraining).

Pretrained teachers are cached on disk (``cache_dir``), keyed by every setting that affects pretraining, so
notebook re-runs and every category of a run reuse one teacher.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from anomaly3d.atomic import atomic_path
from anomaly3d.data.sample import DataError, Sample
from anomaly3d.data.scenes import make_scenes, object_library
from anomaly3d.methods.base import AnomalyMethod, MethodConfig, Scores, register_method
from anomaly3d.metrics.maps import point_scores_to_map
from anomaly3d.nn.lfa import LocalGeometricNet, ReceptiveFieldDecoder, knn_graph, receptive_fields
from anomaly3d.ops import chamfer_distance, fps, knn, mean_knn_distance_scale, random_rotation
from anomaly3d.runtime import cache_root, progress

__all__ = [
    "ST3D",
    "SWEEP_AXES",
    "TEACHERS",
    "ST3DConfig",
    "Teacher",
    "cached_teacher",
    "pretrain_teacher",
    "sweep_settings",
    "time_and_memory",
]

TEACHERS = ("pretrained", "random")
TEACHER_CACHE_FORMAT = 2
"""Version of what a cached teacher holds (2: with pretraining snapshots); older entries are not reused."""


@dataclass(frozen=True)
class ST3DConfig(MethodConfig):
    """3D-ST settings; defaults are the paper's (Sec. 4.1), profiles shrink them for the CPU.

    Attributes:
        d: descriptor dimension (64 or 128 in the paper).
        n_blocks: residual blocks (4); each holds two LFA blocks, so ``L = 2 * n_blocks`` hops (eq. 2).
        k: neighbours of the kNN graph (32).
        n_points: points per cloud after FPS (64,000).
        teacher: ``"pretrained"`` or ``"random"`` (Table 4 ablation: no pretraining).
        absolute_coordinates: add absolute coordinates to eq. 1 (Table 4 ablation).
        rotation_augmentation: random rotations of the student's training clouds (Table 4 ablation).
        pretrain_scenes, pretrain_val_scenes: scenes for teacher training / validation (1000 / 50).
        pretrain_epochs: passes over the pretraining scenes (250).
        pretrain_points: points per scene (``None``: ``n_points``).
        decoder_points: ``m``, points the decoder outputs (1024).
        fields_per_step: receptive fields decoded per step (16).
        pretrain_lr, pretrain_weight_decay: Adam settings of pretraining (1e-3, 1e-6).
        epochs: student epochs (100); lr, weight_decay: its Adam settings (1e-3, 1e-5).
        min_steps: at least this many student optimizer steps (epochs are added until reached). The paper's
            100 epochs over MVTec 3D-AD's ~250 training clouds are ~25,000 steps; on a few embedded clouds 100
            epochs are a few hundred steps, too few for the student to fit the normalised teacher (its loss
            stays near ``d``, the targets' total variance), so the CPU profiles set a floor.
        objects: objects in the embedded pretraining library when ModelNet10 is not given.
        modelnet_root: ModelNet10 folder to build the pretraining scenes from (``None``: embedded shapes).
        cache_dir: where pretrained teachers are cached (``None``: ``$ANOMALY3D_CACHE`` or ``~/.cache/anomaly3d``).
        seed: seeds pretraining, student initialisation and data order.
    """

    d: int = 64
    n_blocks: int = 4
    k: int = 32
    n_points: int = 64000
    teacher: str = "pretrained"
    absolute_coordinates: bool = False
    rotation_augmentation: bool = False
    pretrain_scenes: int = 1000
    pretrain_val_scenes: int = 50
    pretrain_epochs: int = 250
    pretrain_points: int | None = None
    decoder_points: int = 1024
    fields_per_step: int = 16
    pretrain_lr: float = 1e-3
    pretrain_weight_decay: float = 1e-6
    epochs: int = 100
    min_steps: int = 0
    lr: float = 1e-3
    weight_decay: float = 1e-5
    objects: int = 60
    modelnet_root: str | None = None
    cache_dir: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        for name in ("d", "n_blocks", "k", "n_points", "pretrain_scenes", "pretrain_val_scenes", "decoder_points",
                     "fields_per_step", "objects"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d % 4:
            raise ValueError(f"d must be a multiple of 4 (the residual blocks use d/4 and d/2), got {self.d}")
        if self.pretrain_epochs < 0 or self.epochs < 1:
            raise ValueError("pretrain_epochs must be >= 0 and epochs >= 1")

    def pretraining_key(self) -> dict[str, Any]:
        """Every setting that changes the pretrained teacher, plus the cache format (the cache key)."""
        keys = ("d", "n_blocks", "k", "absolute_coordinates", "pretrain_scenes", "pretrain_val_scenes",
                "pretrain_epochs", "decoder_points", "fields_per_step", "pretrain_lr", "pretrain_weight_decay",
                "objects", "modelnet_root", "seed")
        out = {k: getattr(self, k) for k in keys}
        out["pretrain_points"] = self.pretrain_points or self.n_points
        out["cache_format"] = TEACHER_CACHE_FORMAT
        return out


def _network(c: ST3DConfig) -> LocalGeometricNet:
    return LocalGeometricNet(d=c.d, n_blocks=c.n_blocks, k=c.k, absolute_coordinates=c.absolute_coordinates)


def _subsample(points: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``min(n, N)`` points by FPS (all points, in order, when the cloud is small enough)."""
    if points.shape[0] <= n:
        return np.arange(points.shape[0])
    return np.asarray(fps(points, n))


# ------------------------------------------------------------------------------------------ teacher pretraining
@dataclass
class Teacher:
    """A pretrained (or random) teacher: the network, the decoder, the pretraining scale and its history."""

    net: LocalGeometricNet
    decoder: ReceptiveFieldDecoder | None
    scale: float
    history: list[dict[str, float]]
    source: str
    snapshots: dict[str, Any] = field(default_factory=dict)
    """One validation receptive field (``target``, centred) and the decoder's reconstruction of it after several
    epochs (``epochs``, ``decoded``): how the reconstruction improves over pretraining."""


def reconstruction_loss(
    net: LocalGeometricNet, decoder: ReceptiveFieldDecoder, points: torch.Tensor, fields: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Eq. 3 on one scene: mean Chamfer distance between ``D(f_p)`` and the centred receptive field ``R(p) - p̄``
    over ``fields`` randomly chosen points ``p``."""
    nbrs = knn_graph(points, net.k)
    feats = net(points, nbrs)
    q = torch.randperm(points.shape[0], generator=generator)[:fields].to(points.device)
    rfs = receptive_fields(nbrs, q, net.n_lfa)
    decoded = decoder(feats[q])
    losses = []
    for i, rf in enumerate(rfs):
        target = points[rf]
        losses.append(chamfer_distance(decoded[i], target - target.mean(dim=0)))
    return torch.stack(losses).mean()


def pretrain_teacher(config: ST3DConfig, *, device: torch.device, log: bool = True) -> Teacher:
    """Pretrain (or, for ``teacher="random"``, just initialise) a teacher; see the module docstring."""
    c = config
    torch.manual_seed(c.seed)
    net = _network(c).to(device)
    if c.teacher == "random":
        return Teacher(net.eval(), None, 1.0, [], "random initialisation (no pretraining)")
    n = c.pretrain_points or c.n_points
    objects, source = object_library(max(2 * n // 10, 256), modelnet_root=c.modelnet_root, n_objects=c.objects,
                                     seed=c.seed)
    train = make_scenes(objects, c.pretrain_scenes, n, seed=c.seed * 1000 + 1)
    val = make_scenes(objects, c.pretrain_val_scenes, n, seed=c.seed * 1000 + 2)
    scale = mean_knn_distance_scale(train, k=min(c.k, n - 1))  # eq. 4 over the pretraining set
    to_t = lambda p: torch.from_numpy(p / scale).to(device, torch.float32)
    train_t, val_t = [to_t(p) for p in train], [to_t(p) for p in val]
    decoder = ReceptiveFieldDecoder(c.d, c.decoder_points).to(device)
    params = list(net.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=c.pretrain_lr, weight_decay=c.pretrain_weight_decay)
    gen = torch.Generator().manual_seed(c.seed)
    best, best_state, history = float("inf"), None, []
    # a fixed validation field, reconstructed after a few epochs (for the notebook's figure)
    probe_pts = val_t[0]
    probe_nbrs = knn_graph(probe_pts, c.k)
    probe_idx = int(torch.randint(probe_pts.shape[0], (1,), generator=torch.Generator().manual_seed(c.seed)))
    probe_rf = receptive_fields(probe_nbrs, torch.tensor([probe_idx]), net.n_lfa)[0]
    probe_target = probe_pts[probe_rf] - probe_pts[probe_rf].mean(dim=0)
    snap_epochs = sorted({1, max(1, c.pretrain_epochs // 4), max(1, c.pretrain_epochs // 2), c.pretrain_epochs})
    snapshots: dict[str, Any] = {"target": probe_target.cpu().numpy(), "epochs": [], "decoded": []}
    for epoch in progress(range(c.pretrain_epochs), "3D-ST teacher pretraining", total=c.pretrain_epochs):
        net.train()
        decoder.train()
        train_loss = 0.0
        for i in torch.randperm(len(train_t), generator=gen).tolist():
            opt.zero_grad()
            loss = reconstruction_loss(net, decoder, train_t[i], c.fields_per_step, gen)
            loss.backward()
            opt.step()
            train_loss += loss.item() / len(train_t)
        net.eval()
        decoder.eval()
        with torch.no_grad():
            vgen = torch.Generator().manual_seed(10_000 + c.seed)  # the same fields every epoch
            val_loss = float(np.mean([float(reconstruction_loss(net, decoder, v, c.fields_per_step, vgen))
                                      for v in val_t]))
        history.append({"epoch": epoch + 1, "train": train_loss, "validation": val_loss})
        if epoch + 1 in snap_epochs:
            with torch.no_grad():
                f = net(probe_pts, probe_nbrs)[probe_idx : probe_idx + 1]
                snapshots["epochs"].append(epoch + 1)
                snapshots["decoded"].append(decoder(f)[0].cpu().numpy())
        if val_loss < best:
            best, best_state = val_loss, (copy.deepcopy(net.state_dict()), copy.deepcopy(decoder.state_dict()))
    if best_state is not None:
        net.load_state_dict(best_state[0])
        decoder.load_state_dict(best_state[1])
    return Teacher(net.eval(), decoder.eval(), scale, history, source, snapshots)


def cached_teacher(config: ST3DConfig, *, device: torch.device, retrain: bool = False) -> Teacher:
    """:func:`pretrain_teacher`, cached under ``cache_dir/st3d_teachers/<hash>.pt`` (written atomically)."""
    if config.teacher == "random":
        return pretrain_teacher(config, device=device)
    key = json.dumps(config.pretraining_key(), sort_keys=True, default=str)
    path = cache_root(config.cache_dir) / "st3d_teachers" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.exists() and not retrain:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
            net, dec = _network(config), ReceptiveFieldDecoder(config.d, config.decoder_points)
            net.load_state_dict(blob["net"])
            dec.load_state_dict(blob["decoder"])
            return Teacher(net.to(device).eval(), dec.to(device).eval(), blob["scale"], blob["history"], blob["source"],
                           blob.get("snapshots", {}))
        except Exception as exc:  # noqa: BLE001 - a corrupt/old cache entry is retrained, never trusted
            warnings.warn(f"cached teacher {path} is unreadable ({exc}); pretraining it again", stacklevel=2)
    teacher = pretrain_teacher(config, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"net": teacher.net.state_dict(), "decoder": teacher.decoder.state_dict(), "scale": teacher.scale,
            "history": teacher.history, "source": teacher.source, "snapshots": teacher.snapshots, "key": key}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return teacher


# ---------------------------------------------------------------------------------------------------- the method
@register_method
class ST3D(AnomalyMethod):
    """3D Student-Teacher (module docstring). ``fit`` pretrains (or loads) the teacher, then trains the student."""

    name = "3d-st"
    config_class = ST3DConfig
    config: ST3DConfig
    uses_validation = True

    def __init__(self, config: ST3DConfig | None = None, *, device: str | torch.device = "auto") -> None:
        super().__init__(config, device=device)
        self.teacher: Teacher | None = None
        self.student: LocalGeometricNet | None = None
        self.scale_: float = 1.0
        self.mu_: torch.Tensor | None = None
        self.sigma_: torch.Tensor | None = None
        self.history_: list[dict[str, float]] = []

    @property
    def display_name(self) -> str:
        c = self.config
        name = f"3D-ST{c.d}"
        variants = [v for v, on in (("random teacher", c.teacher == "random"),
                                    ("absolute coordinates", c.absolute_coordinates),
                                    ("rotation augmentation", c.rotation_augmentation)) if on]
        return name + (f" ({', '.join(variants)})" if variants else "")

    # -- data ----------------------------------------------------------------------------------------------
    def _scored_indices(self, sample: Sample) -> np.ndarray:
        """FPS indices of the points 3D-ST scores (all of them when the cloud has at most ``n_points``)."""
        if sample.num_points <= self.config.k:
            raise DataError(
                f"{sample.category}/{sample.name} has {sample.num_points} points; 3D-ST needs more than k="
                f"{self.config.k} (lower k or use denser clouds)"
            )
        return _subsample(sample.points, self.config.n_points)

    def _to_model(self, points: np.ndarray) -> torch.Tensor:
        """Coordinates divided by the training set's scale ``s`` (eq. 4), as a tensor on the device."""
        return torch.from_numpy(points / self.scale_).to(self.device, torch.float32)

    def _prepare(self, sample: Sample) -> tuple[np.ndarray, torch.Tensor]:
        """FPS indices of the scored points and their coordinates divided by ``s``, as a tensor."""
        idx = self._scored_indices(sample)
        return idx, self._to_model(sample.points[idx])

    def _teacher_targets(self, pts: torch.Tensor, nbrs: torch.Tensor) -> torch.Tensor:
        assert self.teacher is not None
        with torch.no_grad():
            f = self.teacher.net(pts, nbrs)
        if self.mu_ is None:
            return f
        return (f - self.mu_) / self.sigma_

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, train_samples: Iterable[Sample], validation_samples: Iterable[Sample] | None = None) -> ST3D:
        c = self.config
        train = list(train_samples)
        val = list(validation_samples) if validation_samples is not None else []
        if not train:
            raise ValueError("3D-ST.fit got no training samples")
        self.teacher = cached_teacher(c, device=self.device)
        subs = [s.points[self._scored_indices(s)] for s in train]
        self.scale_ = mean_knn_distance_scale(subs, k=min(c.k, min(len(p) for p in subs) - 1))  # eq. 4
        self.mu_ = self.sigma_ = None
        prepared = [self._to_model(p) for p in subs]
        graphs = [knn_graph(p, c.k) for p in prepared]
        raw = [self._teacher_targets(p, g) for p, g in zip(prepared, graphs, strict=True)]  # not normalised yet
        feats = torch.cat(raw)
        self.mu_ = feats.mean(dim=0)
        self.sigma_ = feats.std(dim=0).clamp_min(1e-6)
        targets = [(f - self.mu_) / self.sigma_ for f in raw]  # eq. 5's targets, as _teacher_targets computes them
        val_prepared = [self._prepare(s)[1] for s in val]
        val_graphs = [knn_graph(p, c.k) for p in val_prepared]
        val_targets = [self._teacher_targets(p, g) for p, g in zip(val_prepared, val_graphs, strict=True)]

        torch.manual_seed(c.seed + 1)
        student = _network(c).to(self.device)
        opt = torch.optim.Adam(student.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        rng = np.random.default_rng(c.seed)
        best, best_state, history = float("inf"), None, []
        n_epochs = max(c.epochs, -(-c.min_steps // len(prepared)))
        for epoch in progress(range(n_epochs), f"{self.display_name}: student", total=n_epochs):
            student.train()
            train_loss = 0.0
            for i in rng.permutation(len(prepared)):
                pts, nbrs, tgt = prepared[i], graphs[i], targets[i]
                if c.rotation_augmentation:
                    rot = torch.as_tensor(random_rotation(rng), dtype=torch.float32, device=self.device)
                    pts = pts @ rot.T
                    tgt = self._teacher_targets(pts, nbrs)  # the graph is rotation invariant
                opt.zero_grad()
                loss = (student(pts, nbrs) - tgt).square().sum(dim=1).mean()  # eq. 5
                loss.backward()
                opt.step()
                train_loss += loss.item() / len(prepared)
            student.eval()
            if val_prepared:
                with torch.no_grad():
                    val_loss = float(np.mean([
                        float((student(p, g) - t).square().sum(dim=1).mean())
                        for p, g, t in zip(val_prepared, val_graphs, val_targets, strict=True)
                    ]))
            else:
                val_loss = train_loss
            history.append({"epoch": epoch + 1, "train": train_loss, "validation": val_loss})
            if val_loss < best:
                best, best_state = val_loss, copy.deepcopy(student.state_dict())
        if best_state is not None:
            student.load_state_dict(best_state)
        self.student = student.eval()
        self.history_ = history
        self._fitted = True
        return self

    # -- score ---------------------------------------------------------------------------------------------
    def point_features(self, sample: Sample) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """FPS indices, normalised teacher features and student features of a sample (for figures)."""
        self._require_fitted()
        assert self.student is not None
        idx, pts = self._prepare(sample)
        nbrs = knn_graph(pts, self.config.k)
        with torch.no_grad():
            return idx, self._teacher_targets(pts, nbrs), self.student(pts, nbrs)

    def score(self, sample: Sample) -> Scores:
        idx, t, s = self.point_features(sample)
        scored = torch.linalg.vector_norm(s - t, dim=1).cpu().numpy().astype(np.float32)
        if len(idx) == sample.num_points:
            point_scores = np.empty(sample.num_points, np.float32)
            point_scores[idx] = scored
        else:
            _, nn = knn(sample.points, sample.points[idx], k=1)
            point_scores = scored[np.asarray(nn)[:, 0]]
        amap = None
        if sample.is_organized:
            amap = point_scores_to_map(scored, sample.pixel_index[idx], sample.image_size).astype(np.float32)
        return Scores(float(scored.max()), point_scores, amap)

    # -- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        assert self.teacher is not None and self.student is not None
        return {
            "teacher": self.teacher.net.state_dict(),
            "teacher_scale": self.teacher.scale,
            "teacher_history": self.teacher.history,
            "teacher_source": self.teacher.source,
            "teacher_snapshots": self.teacher.snapshots,
            "student": self.student.state_dict(),
            "scale": self.scale_,
            "mu": self.mu_.cpu(),
            "sigma": self.sigma_.cpu(),
            "history": self.history_,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        c = self.config
        net, student = _network(c), _network(c)
        net.load_state_dict(state["teacher"])
        student.load_state_dict(state["student"])
        self.teacher = Teacher(net.to(self.device).eval(), None, state["teacher_scale"], state["teacher_history"],
                               state["teacher_source"], state.get("teacher_snapshots", {}))
        self.student = student.to(self.device).eval()
        self.scale_ = float(state["scale"])
        self.mu_ = state["mu"].to(self.device)
        self.sigma_ = state["sigma"].to(self.device)
        self.history_ = list(state["history"])


SWEEP_AXES: dict[str, str] = {"points": "n_points", "feature_dim": "d", "neighbors": "k"}
"""3D-ST Table 3 / Figure 6 axes -> the config field they vary."""


def sweep_settings(config: ST3DConfig, axis: str, factors: tuple[float, ...] = (0.5, 1.0, 2.0)) -> list[dict[str, int]]:
    """Overrides for a sweep of ``axis`` around ``config`` (the value times each factor; ``d`` kept a multiple of 4)."""
    if axis not in SWEEP_AXES:
        raise ValueError(f"axis must be one of {', '.join(SWEEP_AXES)}, got {axis!r}")
    name = SWEEP_AXES[axis]
    base = getattr(config, name)
    values = []
    for f in factors:
        v = max(4 if name == "d" else 2, round(base * f))
        if name == "d":
            v -= v % 4
        if v not in values:
            values.append(v)
    return [{name: v} for v in values]


def _inference_peak_child(method: ST3D, samples: list[Sample], out: Any) -> None:
    from anomaly3d.runtime import track_peak_memory

    # warm up on a tiny cloud: lazy imports and one-time setup happen here, without leaving large freed blocks in
    # the allocator that the measured run could reuse unseen
    first = samples[0].points
    tiny = Sample(first[: min(len(first), 4 * method.config.k + 8)], "warm-up", "test", "warm-up")
    method.point_features(tiny)
    with track_peak_memory(method.device) as peak:
        for s in samples:
            method.point_features(s)
    out.put(peak.mb)


def time_and_memory(method: ST3D, samples: list[Sample], repeats: int = 2) -> tuple[float, float]:
    """Mean seconds per sample of the teacher + student forward pass (FPS and kNN graph included) and its peak
    extra memory in MiB.

    Memory is measured in a fresh (spawned) process holding only the fitted model and the samples (warmed up on a
    tiny cloud), so memory the current process's allocator already holds does not hide the peak: on the CPU the
    peak resident memory beyond the model (Linux ``VmHWM``; it includes allocator overhead and is a few MiB noisy),
    on a GPU the peak tensor memory (see :func:`anomaly3d.runtime.track_peak_memory`). NaN where it cannot be
    measured.
    """
    import multiprocessing as mp
    import time

    method.point_features(samples[0])  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        for s in samples:
            method.point_features(s)
    seconds = (time.perf_counter() - t0) / (repeats * len(samples))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_inference_peak_child, args=(method, samples, queue))
    proc.start()
    try:
        peak_mb = float(queue.get(timeout=600))
    except Exception:  # noqa: BLE001 - a failed measurement is reported as NaN, not as a crash
        peak_mb = float("nan")
    proc.join(timeout=60)
    return seconds, peak_mb
