"""The sandbox's node (issue 16): a kubelet stand-in in Python, as kwok is one, that registers a Node
with the real API server and runs the pods bound to it as processes of this machine, each on its own
loopback address. Generic images (busybox) run their command; the Choerodon behaviours are not here yet."""
from .kubelet import Node, NodeError

__all__ = ["Node", "NodeError"]
