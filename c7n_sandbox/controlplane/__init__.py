"""The real Kubernetes control plane for the sandbox (issue 16): binaries built from Go modules into a
per-machine cache (binaries.py, scripts/build-control-plane.sh) and started on loopback (cluster.py); real Helm 2's
Tiller beside it (helm2.py). `python -m c7n_sandbox up` runs it (realcluster.py)."""
from .binaries import bin_dir, ensure_built
from .cluster import NAMESPACE, ControlPlane
from .components import ControlPlaneError
from .helm2 import Tiller

__all__ = ["ControlPlane", "ControlPlaneError", "NAMESPACE", "Tiller", "bin_dir", "ensure_built"]
