"""The Go templates inside each sandbox chart archive: what a real helm renders from the repo.

They render what :func:`c7n_sandbox.charts.render` (the chart layout in Python) describes for
the same chart and values: the Deployment with the ``choerodon.io/*`` labels (version from
``.Chart.Version``, metrics port from ``.Values.deployment.managementPort``), the Service, and one
hook Job per hook of the chart. A chart's ports and hooks come from the plan and are written into
its templates as constants, as each real chart has its own. tests/sandbox/test_chart_templates.py
renders every chart both ways and compares the objects.

Standard library only.
"""
from __future__ import annotations

HOOK_ANNOTATION = "pre-install,pre-upgrade"  # as the 0.8/0.9 charts had; no delete policy
IMAGE_REGISTRY = "registry.cn-hangzhou.aliyuncs.com/choerodon"
DBTOOL_IMAGE = f"{IMAGE_REGISTRY}/dbtool:0.5.2"
HOOK_VALUES = {"init-db": "preInitDB", "init-config": "preConfig"}   # hook -> its preJob section
# the readiness probe's timing: short, so that a rollout on the real control plane takes seconds
# (the sandbox's services answer at once; docs/decisions.md)
PROBE_TIMING = {"initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 3}

HELPERS = """\
{{/* The labels every object of a Choerodon service carries. */}}
{{- define "service.labels" -}}
choerodon.io/release: {{ .Release.Name | quote }}
choerodon.io/service: {{ .Chart.Name | quote }}
choerodon.io/version: {{ .Chart.Version | quote }}
choerodon.io/metrics-port: {{ .Values.deployment.managementPort | quote }}
{{- end -}}

{{/* A container env value: a string, as `quote` makes it; maps and lists as compact JSON. */}}
{{- define "service.envValue" -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) -}}
{{ toJson . | quote }}
{{- else -}}
{{ . | quote }}
{{- end -}}
{{- end -}}
"""

# the metadata of the release's Deployment and Service
_METADATA = """\
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
{{ include "service.labels" . | indent 4 }}
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
@METADATA@  annotations:
    choerodon.io/logs-parser: {{ .Values.logs.parser | quote }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      choerodon.io/release: {{ .Release.Name | quote }}
  template:
    metadata:
      labels:
{{ include "service.labels" . | indent 8 }}
      annotations:
        choerodon.io/metrics-group: {{ .Values.metrics.group | quote }}
        choerodon.io/metrics-path: {{ .Values.metrics.path | quote }}
    spec:
      containers:
      - name: {{ .Release.Name }}
        image: "{{ .Values.image.repository | default "@REPOSITORY@" }}:{{ .Values.image.tag | default .Chart.Version }}"
        imagePullPolicy: {{ .Values.image.pullPolicy | default "Always" }}
        ports:
@PORTS@
        env:
{{- range $name, $value := .Values.env.open }}
        - name: {{ $name | quote }}
          value: {{ include "service.envValue" $value }}
{{- end }}
        resources:
{{ toYaml .Values.resources | indent 10 }}
@PROBE@"""

_PORT = """\
        - name: {name}
          containerPort: {port}
          protocol: TCP"""

_PROBE = """\
        readinessProbe:
          httpGet:
            path: /health
            port: {port}
""" + "".join(f"          {key}: {value}\n" for key, value in PROBE_TIMING.items())

_SERVICE = """\
apiVersion: v1
kind: Service
@METADATA@spec:
  type: {{ .Values.service.type | default "ClusterIP" }}
  ports:
  - name: http
    port: {{ .Values.service.port | default @PORT@ }}
    targetPort: @PORT@
    protocol: TCP
  selector:
    choerodon.io/release: {{ .Release.Name | quote }}
"""

_HOOK_JOB = """\
{{- $mysql := .Values.preJob.@SECTION@.mysql }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-@HOOK@
  namespace: {{ .Release.Namespace }}
  labels:
    choerodon.io/release: {{ .Release.Name | quote }}
    choerodon.io/service: {{ .Chart.Name | quote }}
  annotations:
    "helm.sh/hook": @HOOK_EVENTS@
    "helm.sh/hook-weight": "1"
spec:
  backoffLimit: 1
  activeDeadlineSeconds: {{ .Values.preJob.timeout | default 300 }}
  template:
    metadata:
      name: {{ .Release.Name }}-@HOOK@
    spec:
      restartPolicy: Never
      containers:
      - name: tools-@HOOK@
        image: {{ .Values.preJob.image | default "@DBTOOL@" | quote }}
        command: ["/bin/sh", "-c", "echo running @HOOK@ for {{ .Chart.Name }}"]
        env:
{{- range $key, $value := $mysql }}
{{- if ne $key "password" }}
        - name: DB_{{ upper $key }}
          value: {{ $value | quote }}
{{- end }}
{{- end }}
"""


def hook_template(hook: str) -> str:
    """The template file of a hook Job in the Choerodon charts."""
    return {"init-db": "templates/pre-config-db.yaml",
            "init-config": "templates/pre-config-config.yaml"}.get(hook, f"templates/pre-{hook}.yaml")


def templates(name: str, service_port: int, health_port, hooks=()) -> dict[str, str]:
    """{path in the chart: template text} for one chart."""
    ports = [_PORT.format(name="http", port=service_port)]
    if health_port and health_port != service_port:
        ports.append(_PORT.format(name="management", port=health_port))
    deployment = (_DEPLOYMENT.replace("@METADATA@", _METADATA).replace("@REPOSITORY@", f"{IMAGE_REGISTRY}/{name}")
                  .replace("@PORTS@", "\n".join(ports))
                  .replace("@PROBE@", _PROBE.format(port=health_port) if health_port else ""))
    files = {"templates/_helpers.tpl": HELPERS,
             "templates/deployment.yaml": deployment,
             "templates/service.yaml": _SERVICE.replace("@METADATA@", _METADATA).replace("@PORT@", str(service_port))}
    for hook in hooks:
        files[hook_template(hook)] = (_HOOK_JOB.replace("@SECTION@", HOOK_VALUES.get(hook, "preConfig"))
                                      .replace("@HOOK_EVENTS@", HOOK_ANNOTATION).replace("@HOOK@", hook)
                                      .replace("@DBTOOL@", DBTOOL_IMAGE))
    return files
