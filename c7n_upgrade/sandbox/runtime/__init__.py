"""The sandbox runtime: it makes the objects in the store live, one module per part.

  core.py            Runtime: wires the parts to the store; the `world` the pods' behaviours see
  loop.py            ControlLoop: one thread runs store events, submitted work and timers in order
  pods.py            Kubelet and PodInfo: a loopback IP and HTTP listeners per pod, status, Events, logs (and -f)
  readiness.py       the readiness probe: health decides each pod's Ready condition
  events.py          Events with involvedObject (kind, name, namespace, uid)
  workload.py        what the controllers share: ownerReferences, template hash/equality, PodController
  deployments.py     the Deployment controller: ReplicaSets per template and revision, rolling update, status
  replicasets.py     the ReplicaSet (and ReplicationController) controller: pods per replicas, status
  statefulsets.py    the StatefulSet controller: ordered, stably named pods, rolling update by ordinal
  daemonsets.py      the DaemonSet controller: one pod on the sandbox's node
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
