"""Every node of a PyTorch module's forward pass as a layer source for ``measure``.

``ModuleSource(module, input_shape)`` names the nodes of the forward pass (each convolution,
batch norm, activation, pooling and residual sum, then the head) with ``torch.fx`` symbolic
tracing, the ecosystem's way to name a module's nodes (as torchvision's feature extraction
does), and falls back to forward hooks on the leaf modules when tracing fails (data-dependent
control flow). ``measure_module`` measures D_k, G_k, R_k at every node.

torch is imported inside the functions: importing this module does not need it.
"""

import copy
import operator

import numpy as np

from ..errors import ScaleDetectError, require, require_choice
from ..extras import missing_message
from ..perturb.spec import Perturbation
from ..sensitivity.measure import measure
from ..sensitivity.result import Sensitivities
from ..sensitivity.source import default_labels, relative_depths
from ..tasks.spec import TaskSpec

CAPTURES = ("auto", "fx", "hooks")
INPUT_NAME = "input"
OUTPUT_NAME = "output"

# Nodes that only reshape, pad, copy or (in eval mode) do nothing: not layers of their own.
_SKIP_METHODS = frozenset({"view", "reshape", "flatten", "size", "contiguous", "squeeze",
                           "unsqueeze", "permute", "transpose", "dim", "to", "float", "type",
                           "type_as", "clone", "detach", "expand", "expand_as"})
_SKIP_MODULE_NAMES = ("Dropout", "Identity", "Flatten", "Unflatten", "Pad")


def _torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised only without torch
        raise ScaleDetectError(missing_message("torch", "PyTorch models", "need")) from err
    return torch


def _skip_function(target) -> bool:
    torch = _torch()
    return target in (torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze,
                      torch.nn.functional.pad, operator.getitem, getattr)


def _skip_module(mod) -> bool:
    return any(s in type(mod).__name__ for s in _SKIP_MODULE_NAMES)


def _unique(names: list[str]) -> list[str]:
    """Make repeated names unique: ``relu``, ``relu:1``, ``relu:2`` (a module called again)."""
    seen: dict[str, int] = {}
    out = []
    for s in names:
        i = seen.get(s, 0)
        seen[s] = i + 1
        out.append(s if i == 0 else f"{s}:{i}")
    return out


def _fx_nodes(module):
    """Trace *module*; return ``(graph_module, [(node, name), ...])`` of candidate layer nodes."""
    torch = _torch()
    gm = torch.fx.symbolic_trace(module)
    mods = dict(gm.named_modules())
    cand = []
    on_input = set()  # nodes computed from the input (not from parameters alone)
    for node in gm.graph.nodes:
        if node.op != "placeholder" and not any(a in on_input for a in node.all_input_nodes):
            continue
        on_input.add(node)
        if node.op == "placeholder":
            require(not cand, "module", "take one input (the images)", "several placeholders")
            cand.append((node, INPUT_NAME))
        elif node.op == "call_module" and not _skip_module(mods[node.target]):
            cand.append((node, str(node.target)))
        elif node.op == "call_function" and not _skip_function(node.target):
            cand.append((node, node.name))
        elif node.op == "call_method" and node.target not in _SKIP_METHODS:
            cand.append((node, node.name))
    names = _unique([s for _, s in cand])
    return gm, [(node, s) for (node, _), s in zip(cand, names, strict=True)]


_RECORDER = []  # the Interpreter subclass, built once torch is imported


def _recorder_class():
    """The ``fx.Interpreter`` subclass that keeps the outputs of chosen nodes.

    Defined once: a class made per call would sit in a reference cycle holding a batch of
    tensors until the cyclic garbage collector runs (memory growing with P).
    """
    if not _RECORDER:
        torch = _torch()

        class _Recorder(torch.fx.Interpreter):
            def run_node(self, n):
                r = super().run_node(n)
                if n in self.keep:
                    self.seen[n] = _capture(r, self.clone)
                return r

        _RECORDER.append(_Recorder)
    return _RECORDER[0]


def _fx_run(gm, nodes: set, x, clone: bool) -> dict:
    """Run the traced module on *x*; return ``{node: _Captured}`` for the nodes in *nodes*."""
    rec = _recorder_class()(gm)
    rec.keep, rec.seen, rec.clone = nodes, {}, clone
    rec.run(x)
    seen, rec.seen = rec.seen, None
    return seen


def _hooks_run(module, x, clone: bool) -> list:
    """Run *module* on *x*, hooks on its leaf modules: ``[(path, output), ...]`` in call order."""
    calls = [(INPUT_NAME, _capture(x, clone))]
    last = []

    def hook(m, i, o, path):
        calls.append((path, _capture(o, clone)))
        last[:] = [o]

    handles = []
    for path, mod in module.named_modules():
        if next(mod.children(), None) is None and not _skip_module(mod) and path:
            handles.append(mod.register_forward_hook(
                lambda m, i, o, path=path: hook(m, i, o, path)))
    try:
        y = module(x)
    finally:
        for h in handles:
            h.remove()
    if not last or y is not last[0]:  # the head is not a leaf module's output
        calls.append((OUTPUT_NAME, _capture(y, clone)))
    return calls


class _Captured:
    """A node's output tensor and its version counter when it was produced."""

    __slots__ = ("tensor", "version")

    def __init__(self, t):
        self.tensor, self.version = t, t._version

    def array(self) -> np.ndarray:
        """float32 numpy view (CPU) of the tensor; error if an in-place op changed it since."""
        t = self.tensor
        if t._version != self.version:
            raise _InPlace
        return t.detach().to("cpu", _torch().float32).numpy()


class _InPlace(Exception):
    """A captured output was modified in place later in the forward pass."""


def _capture(t, clone: bool):
    """Keep a floating tensor output (cloned if asked); None for anything else."""
    torch = _torch()
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        return None
    return _Captured(t.clone() if clone else t)


def _arrays(pairs: list) -> list:
    """``[(name, _Captured or None)] -> [(name, ndarray or None)]``; raises ``_InPlace``."""
    return [(s, None if c is None else c.array()) for s, c in pairs]


class ModuleSource:
    """A PyTorch module as a ``LayerSource``: every node's output, named by its module path.

    Parameters
    ----------
    module : torch.nn.Module
        Run in eval mode, without gradients, in float32 on *device* (a copy is made when its
        parameters are not float32 on *device*; the caller restores its train/eval mode).
    input_shape : tuple
        ``(C, N[, N])`` of one image.
    device : str
        ``cpu`` (the tested default), ``cuda`` or ``mps``.
    layers : sequence of str, optional
        Keep only these node names (the input and the head are always kept); relative depths
        stay those of the full node list.
    capture : str
        ``fx`` (symbolic tracing), ``hooks`` (forward hooks on leaf modules) or ``auto`` (fx,
        hooks when tracing fails).

    Attributes
    ----------
    names : tuple of str
        ``input``, the module paths (``features.3``; a module called twice gets ``:1``) and
        fx's names of function nodes (``add``, ``relu_1``); the last is the head.
    depths : tuple of float
        ``index / (L - 1)`` over all L nodes.
    labels : tuple
        ``(0, 1, ..., "out")``.
    capture : str
        ``fx`` or ``hooks``, whichever is used.

    Notes
    -----
    A node is kept when it is computed from the input and its output is a floating tensor with
    the batch as first dimension. With hooks, the module's return value is appended as
    ``output`` when it is not already a leaf module's output.
    Reshapes (``flatten``, ``view``, ...), padding, dropout and identity modules are not layers
    of their own (in eval mode they repeat their input). The head is the last node kept.
    """

    def __init__(self, module, input_shape: tuple, device: str = "cpu", layers=None,
                 capture: str = "auto"):
        torch = _torch()
        require(isinstance(module, torch.nn.Module), "module", "be a torch.nn.Module",
                type(module).__name__)
        require_choice("capture", capture, CAPTURES)
        self.device = _device(device)
        self.module = _prepared(module, self.device)
        self.input_shape = tuple(int(v) for v in input_shape)
        self._gm = None
        self._clone = False
        if capture in ("auto", "fx"):
            try:
                self._gm, self._cand = _fx_nodes(self.module)
                capture = "fx"
            except Exception as err:  # tracing fails on data-dependent control flow
                if capture == "fx":
                    raise ScaleDetectError(f"capture=fx: torch.fx cannot trace "
                                           f"{type(module).__name__} ({err}); use hooks") from None
                capture = "hooks"
        self.capture = capture
        all_names = self._discover()
        depth_of = dict(zip(all_names, relative_depths(len(all_names)), strict=True))
        keep = list(all_names)
        if layers is not None:
            wanted = set(layers)
            unknown = sorted(wanted - set(all_names))
            require(not unknown, "layers", "name nodes of the module: " + ", ".join(all_names),
                    unknown)
            keep = [s for i, s in enumerate(all_names)
                    if s in wanted or i == 0 or i == len(all_names) - 1]
        self._keep = keep
        self.names = tuple(keep)
        self.depths = tuple(depth_of[s] for s in keep)
        self.labels = default_labels(len(keep))
        self.config = {"module": type(module).__name__, "capture": capture,
                       "device": str(self.device)}

    def _raw(self, x) -> list:
        """``[(name, array or None), ...]`` of every candidate node on images *x*.

        Outputs are kept without copies; if an in-place op (``ReLU(inplace=True)``) modified
        one after it was produced, the pass is redone cloning every output.
        """
        try:
            return _arrays(self._pairs(x))
        except _InPlace:
            self._clone = True
            return _arrays(self._pairs(x))

    def _pairs(self, x) -> list:
        torch = _torch()
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
        with torch.no_grad():  # (inference tensors would not track in-place versions)
            if self.capture == "fx":
                seen = _fx_run(self._gm, {node for node, _ in self._cand}, t, self._clone)
                return [(s, seen.get(node)) for node, s in self._cand]
            calls = _hooks_run(self.module, t, self._clone)
        return list(zip(_unique([s for s, _ in calls]), [a for _, a in calls], strict=True))

    def _discover(self) -> list[str]:
        """Names of the nodes whose output is a float tensor ``(n, ...)`` (a dry run, n = 2)."""
        n = 2
        raw = self._raw(np.zeros((n,) + self.input_shape, np.float32))
        names = [s for s, a in raw if a is not None and a.ndim >= 1 and a.shape[0] == n]
        require(len(names) >= 2, "module", "produce at least one tensor output per image",
                len(names) - 1)
        return names

    def representations(self, x: np.ndarray) -> list:
        """The kept nodes' outputs on *x* ``(n, C, N[, N])``: float32 arrays ``(n, ...)``."""
        found = dict(self._raw(x))
        missing = [s for s in self._keep if found.get(s) is None]
        if missing:
            raise ScaleDetectError(f"module: nodes {missing} gave no output on this batch "
                                   "(the forward pass must visit the same nodes every time)")
        return [found[s] for s in self._keep]


def _device(device: str):
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ScaleDetectError(f"device must be cpu, cuda or mps; got device={device!r} "
                               f"({err})") from None
    ok = (dev.type == "cpu" or (dev.type == "cuda" and torch.cuda.is_available())
          or (dev.type == "mps" and torch.backends.mps.is_available()))
    require(ok, "device", "be available on this machine (cpu always is)", device)
    return dev


def _prepared(module, device):
    """*module* itself if every parameter/buffer is float32 on *device*, else a converted copy."""
    tensors = list(module.parameters()) + list(module.buffers())
    fine = all(t.device == device and (not t.is_floating_point() or t.dtype == _torch().float32)
               for t in tensors)
    return module if fine else copy.deepcopy(module).float().to(device)


def _input_shape(task, images, pert) -> tuple:
    """The probes' image shape, from exactly one of *task* and *images* (checked)."""
    require((task is None) != (images is None), "task/images", "give exactly one of them",
            "both" if task is not None else "neither")
    require(isinstance(pert, Perturbation), "pert", "be a Perturbation", type(pert).__name__)
    if images is not None:
        require(pert.diffeo == "maxent", "diffeo",
                "be maxent for a user's images (they carry no feature positions to shift)",
                pert.diffeo)
        return tuple(np.shape(images)[1:])
    require(isinstance(task, TaskSpec), "task", "be a TaskSpec", type(task).__name__)
    return task.image_shape


def measure_module(module, task: TaskSpec | None = None, images: np.ndarray | None = None,
                   pert: Perturbation = Perturbation(),  # noqa: B008 (frozen)
                   probe: int | None = None, rng: np.random.Generator | int | None = 0,
                   estimator: str = "mean", channel_mean: bool = False,
                   batch_size: int | None = None, device: str = "cpu", layers=None,
                   capture: str = "auto") -> Sensitivities:
    """D_k, G_k, R_k at every node of a PyTorch module (its own images or a task's probes).

    Parameters
    ----------
    module : torch.nn.Module
        Images ``(n, C, N[, N])`` -> anything; every node's output is measured (see
        ``ModuleSource``). Run in eval mode without gradients; its mode is restored after.
    task : TaskSpec, optional
        Probes from the task's class-balanced distribution; diffeo ``shift`` or ``maxent``.
    images : ``(n, C, N[, N])``, optional
        The user's own images (e.g. CIFAR-10 from an ``.npz``); ``pert.diffeo`` must be
        ``maxent`` (one field per image, shared by its channels), since there are no feature
        positions to shift. Exactly one of *task* and *images*.
    pert, probe, rng, estimator, channel_mean, batch_size
        As in ``scaledetect.sensitivity.measure``.
    device : str
        ``cpu`` (default; the tested results), ``cuda`` or ``mps``.
    layers : sequence of str, optional
        Restrict to these node names (input and head always kept).
    capture : str
        ``auto``, ``fx`` or ``hooks``.

    Returns
    -------
    Sensitivities
        ``names`` (``input``, ``features.0``, ..., the head) and relative ``depths`` in [0, 1];
        ``config`` adds the module's class, the capture method and the device.

    Examples
    --------
    >>> import torch                                                    # doctest: +SKIP
    >>> from scaledetect.perturb import Perturbation                    # doctest: +SKIP
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.LazyLinear(1))  # doctest: +SKIP
    >>> x = np.random.default_rng(0).random((512, 3, 32, 32), np.float32)   # doctest: +SKIP
    >>> s = measure_module(net, images=x, pert=Perturbation(diffeo="maxent"))  # doctest: +SKIP
    """
    shape = _input_shape(task, images, pert)
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        source = ModuleSource(module, shape, device, layers, capture)
        source.module.eval()
        return measure(source, task, pert, probe=probe, rng=rng, estimator=estimator,
                       channel_mean=channel_mean, batch_size=batch_size, images=images)
    finally:
        for m, training in modes.items():
            m.training = training
