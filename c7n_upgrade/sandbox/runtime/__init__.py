"""The sandbox runtime: it makes the objects in the store live, one module per part.

  core.py            Runtime: wires the parts to the store; the `world` the pods' behaviours see
  loop.py            ControlLoop: one thread runs store events, submitted work and timers in order
  pods.py            Kubelet and PodInfo: a loopback IP and HTTP listeners per pod, status, Events, logs
  readiness.py       the readiness probe: health decides each pod's Ready condition
  deployments.py     the Deployment controller: pods per template, rolling update, status
  services.py        kube-proxy: clusterIP:port -> a Ready pod, at the TCP level
  jobs.py            the Job controller: Jobs complete shortly after creation
  releases.py        ReleaseWatch: which releases helm began to upgrade (new revision in the release storage)
  faultwatch.py      FaultWatch: D/faults.json, re-read when it changes
  xwiki_operator.py  the simulated operator's XWiki steps, once steps 1-10 are at their targets

Everything listens on 127.0.0.0/8 only and stops with :meth:`Runtime.stop`.
"""
from .core import Runtime
from .pods import PodInfo, can_bind_privileged

__all__ = ["PodInfo", "Runtime", "can_bind_privileged"]
